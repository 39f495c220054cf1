import { describe, expect, it } from 'vitest';
import { createRunner, eventHeaders, MemorySink, MemoryStore } from '../src/index.js';
import { machine } from './support/machines.js';

describe('OpenTelemetry without a provider', () => {
  it('is a no-op: events carry no traceparent', async () => {
    const sink = new MemorySink();
    const store = new MemoryStore({ sink });
    const runner = createRunner(machine<{ n: number }>({ name: 'untraced', topic: 'u.fsm' }, { a: { order: 1 } }, { a: () => undefined }), { store });
    expect((await runner.start({ n: 1 })).status).toBe('done');
    await store.flush();
    expect(sink.events.length).toBe(3);
    expect(sink.events.every((e) => e.traceparent === undefined && !('traceparent' in eventHeaders(e)))).toBe(true);
  });
});
