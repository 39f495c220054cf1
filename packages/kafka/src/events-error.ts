import { FsmError } from '@fsmkit/runtime';

export interface PublishScope {
  brokers: readonly string[];
  topics: readonly string[];
  count: number;
}

interface KafkaJsErrorLike {
  name?: string;
  type?: string;
  message?: string;
  cause?: unknown;
}

/** The innermost kafkajs error: retries wrap the one that says what happened. */
function rootCause(error: unknown): KafkaJsErrorLike {
  let current = error as KafkaJsErrorLike;
  for (let depth = 0; depth < 5; depth++) {
    const next = current?.cause as KafkaJsErrorLike | undefined;
    if (!next || typeof next !== 'object') break;
    current = next;
  }
  return current ?? {};
}

export function isConnectionFailure(error: unknown): boolean {
  const root = rootCause(error);
  return typeof root.name === 'string' && root.name.startsWith('KafkaJSConnection');
}

export function missingTopicError(scope: PublishScope, missing: readonly string[], cause?: unknown): FsmError {
  return new FsmError(
    'FSM_EVENTS',
    `Kafka topic ${missing.map((t) => `"${t}"`).join(', ')} does not exist on ${scope.brokers.join(',')} and topic ` +
      'auto-creation is off: create the topic (kafka-topics.sh --create, or an admin client) or allow auto-creation ' +
      '(allowAutoTopicCreation on the sink or relay, auto.create.topics.enable on the broker). ' +
      'The state changes are committed; their events are not published.',
    { cause, context: { brokers: [...scope.brokers], topics: [...missing], events: scope.count } },
  );
}

/** Turns a kafkajs failure into FSM_EVENTS with a message that names the brokers, the topics and a way out. */
export function eventsError(scope: PublishScope, error: unknown): FsmError {
  const root = rootCause(error);
  const context = { brokers: [...scope.brokers], topics: [...scope.topics], events: scope.count, kafkaError: root.type ?? root.name };
  const where = `${scope.count} event(s) to topic ${scope.topics.map((t) => `"${t}"`).join(', ')} on ${scope.brokers.join(',')}`;
  if (isConnectionFailure(error)) {
    return new FsmError(
      'FSM_EVENTS',
      `cannot reach the Kafka broker(s) ${scope.brokers.join(',')} (${root.message ?? 'connection failed'}) while ` +
        `publishing ${where}: check the brokers option (KAFKA_BROKERS) and that the broker is running and reachable. ` +
        'The state changes are committed; their events are not published.',
      { cause: error, context },
    );
  }
  if (root.type === 'UNKNOWN_TOPIC_OR_PARTITION') return missingTopicError(scope, scope.topics, error);
  return new FsmError(
    'FSM_EVENTS',
    `publishing ${where} failed: ${root.message ?? String(error)}` +
      (root.type ? ` (${root.type})` : '') +
      '. The state changes are committed; their events are not published.',
    { cause: error, context },
  );
}
