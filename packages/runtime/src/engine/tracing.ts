import { context, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/**
 * Spans through the OpenTelemetry API alone: without a tracer provider registered by the
 * application they are no-ops that cost an object each; with one, every drive and every
 * handler is a span, and events carry the trace context (`traceparent`).
 */
const tracer = trace.getTracer('@fsmkit/runtime');

/**
 * Runs `work` in a span named `name` (active for what it calls), ending it with its outcome.
 * The attributes are made only for a span that records: without a provider, a step pays for
 * one no-op span and nothing else.
 */
export function inSpan<T>(name: string, attributes: () => Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name);
  return span.isRecording() ? recorded(span, attributes, work) : work(span);
}

async function recorded<T>(span: Span, attributes: () => Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  span.setAttributes(attributes());
  try {
    const result = await context.with(trace.setSpan(context.active(), span), () => work(span));
    return result;
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

/** The W3C trace context of the active span, as the `traceparent` header carries it; undefined without one. */
export function currentTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const c = span.spanContext();
  if (!trace.isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1).toString(16).padStart(2, '0')}`;
}
