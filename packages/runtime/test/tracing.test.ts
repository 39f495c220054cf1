import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, eventHeaders, MemorySink, MemoryStore } from '../src/index.js';
import { machine } from './support/machines.js';

describe('OpenTelemetry spans', () => {
  const exporter = new InMemorySpanExporter();
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('a span per drive and per handler, with machine, instance, step, attempt, direction and outcome; events carry traceparent', async () => {
    const sink = new MemorySink();
    const store = new MemoryStore({ sink });
    const def = machine<{ tries: number }>(
      { name: 'traced', topic: 'traced.fsm' },
      { flaky: { order: 1, retry: { maxAttempts: 2 } }, finish: { order: 2 } },
      {
        flaky: (ctx) => {
          if (ctx.attempt === 1) throw new Error('first try fails');
        },
        finish: () => undefined,
      },
    );
    const runner = createRunner(def, { store });
    const tracer = trace.getTracer('app');
    const started = await tracer.startActiveSpan('http POST /orders', async (request) => {
      try {
        return await runner.start({ tries: 0 });
      } finally {
        request.end();
      }
    });
    expect(started.status).toBe('done');
    await store.flush();

    const spans = exporter.getFinishedSpans();
    const request = spans.find((s) => s.name === 'http POST /orders')!;
    const drive = spans.find((s) => s.name === 'fsm.drive traced')!;
    const steps = spans.filter((s) => s.name.startsWith('fsm.step '));
    expect(drive.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(drive.attributes).toMatchObject({ 'fsm.machine': 'traced', 'fsm.instance_id': started.id, 'fsm.outcome': 'done', 'fsm.action': 'start' });
    expect(steps.map((s) => [s.name, s.attributes['fsm.attempt'], s.attributes['fsm.outcome'], s.status.code])).toEqual([
      ['fsm.step flaky', 1, 'threw', SpanStatusCode.ERROR],
      ['fsm.step flaky', 2, 'completed', SpanStatusCode.UNSET],
      ['fsm.step finish', 1, 'completed', SpanStatusCode.UNSET],
    ]);
    expect(steps.every((s) => s.parentSpanContext?.spanId === drive.spanContext().spanId && s.attributes['fsm.direction'] === 'forward')).toBe(true);

    const traceId = request.spanContext().traceId;
    const events = sink.events.filter((e) => e.instanceId === started.id);
    expect(events.length).toBeGreaterThan(2);
    expect(events.every((e) => e.traceparent?.startsWith(`00-${traceId}-`))).toBe(true);
    // Publishers send it as the W3C header, so consumers continue the trace.
    expect(eventHeaders(events[0]!)['traceparent']).toBe(events[0]!.traceparent);
  });

});
