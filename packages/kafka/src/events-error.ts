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
  retriable?: boolean;
  cause?: unknown;
}

/**
 * Why a publish failed, as the relay acts on it: `transient` (broker away, leader moving,
 * timeout) waits and retries everything; `topic` (missing, invalid, denied) and `message`
 * (too large, refused record) concern some rows only, which are found and set apart.
 */
export type FailureKind = 'transient' | 'topic' | 'message';

const TOPIC_ERRORS = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'INVALID_TOPIC_EXCEPTION', 'TOPIC_AUTHORIZATION_FAILED']);
const TOO_LARGE_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

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

/** How the relay should treat a publish failure (an FSM_EVENTS error or a raw kafkajs one). */
export function failureKind(error: unknown): FailureKind {
  const context = (error as { context?: { failure?: unknown } } | null)?.context;
  if (context && (context.failure === 'topic' || context.failure === 'message' || context.failure === 'transient')) return context.failure;
  return classify(error);
}

/** True when the broker refused a message or a batch for its size. */
export function isTooLarge(error: unknown): boolean {
  const context = (error as { context?: { kafkaError?: unknown } } | null)?.context;
  const type = typeof context?.kafkaError === 'string' ? context.kafkaError : rootCause(error).type;
  return type !== undefined && TOO_LARGE_ERRORS.has(type);
}

function classify(error: unknown): FailureKind {
  if (isConnectionFailure(error)) return 'transient';
  const root = rootCause(error);
  if (root.type !== undefined && TOPIC_ERRORS.has(root.type)) return 'topic';
  // kafkajs marks what the broker refused for good; anything else (timeouts, errors of another
  // publisher) is retried as a whole, as if the broker were away.
  const refused = typeof root.name === 'string' && root.name.startsWith('KafkaJS') && root.retriable === false && !root.name.includes('Timeout');
  return refused ? 'message' : 'transient';
}

export function missingTopicError(scope: PublishScope, missing: readonly string[], cause?: unknown): FsmError {
  return new FsmError(
    'FSM_EVENTS',
    `Kafka topic ${missing.map((t) => `"${t}"`).join(', ')} does not exist on ${scope.brokers.join(',')} and topic ` +
      'auto-creation is off: create the topic (kafka-topics.sh --create, or an admin client) or allow auto-creation ' +
      '(allowAutoTopicCreation on the sink or relay, auto.create.topics.enable on the broker). ' +
      'The state changes are committed; their events are not published.',
    {
      cause,
      context: { brokers: [...scope.brokers], topics: [...missing], events: scope.count, kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION', failure: 'topic' },
    },
  );
}

/** Turns a kafkajs failure into FSM_EVENTS with a message that names the brokers, the topics and a way out. */
export function eventsError(scope: PublishScope, error: unknown): FsmError {
  const root = rootCause(error);
  const context = {
    brokers: [...scope.brokers],
    topics: [...scope.topics],
    events: scope.count,
    kafkaError: root.type ?? root.name,
    failure: classify(error),
  };
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
