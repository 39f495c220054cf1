import type { ErrorInfo, FsmEvent, HistoryRecord, InstanceRecord } from '@fsmkit/runtime';
import type { EncodedEvent, EncodedHistory, EncodedInstance } from './rows.js';
import { tooLarge, type ErrorScope } from './store-error.js';

/** Column capacities from schema.ts, in bytes (TEXT types) or characters (VARCHAR). */
export const MEDIUMTEXT_BYTES = 16_777_215;
export const TEXT_BYTES = 65_535;
export const PAUSE_REASON_CHARS = 1024;

/**
 * Turns records into row-ready text and checks every size before anything is sent, so an
 * oversized value fails with FSM_DATA_TOO_LARGE and leaves the stored row as it was.
 */
export class Encoder {
  constructor(private readonly maxStateBytes: number) {}

  instance(scope: ErrorScope, record: InstanceRecord): EncodedInstance {
    this.checkBytes(scope, 'serialized_state', record.serializedState, this.maxStateBytes);
    checkPauseReason(scope, record.pauseReason);
    return { record, lastError: record.lastError && errorJson(record.lastError) };
  }

  history(scope: ErrorScope, record: HistoryRecord): EncodedHistory {
    this.checkBytes(scope, `history ${record.seq} data_before`, record.dataBefore, this.maxStateBytes);
    this.checkBytes(scope, `history ${record.seq} data_after`, record.dataAfter, this.maxStateBytes);
    const metadata = JSON.stringify(record.metadata ?? {});
    this.checkBytes(scope, `history ${record.seq} metadata`, metadata, TEXT_BYTES);
    return { record, metadata, error: record.error && errorJson(record.error) };
  }

  event(scope: ErrorScope, event: FsmEvent): EncodedEvent {
    const payload = JSON.stringify(event);
    this.checkBytes(scope, `event ${event.sequence} payload`, payload, MEDIUMTEXT_BYTES);
    return { event, payload };
  }

  private checkBytes(scope: ErrorScope, field: string, text: string, limit: number): void {
    // Each UTF-16 unit is at most 3 UTF-8 bytes: skip the exact count for clearly small values.
    if (text.length * 3 <= limit) return;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limit) throw tooLarge(scope, field, bytes, limit);
  }
}

export function checkPauseReason(scope: ErrorScope, reason: string | null): void {
  if (reason !== null && reason.length > PAUSE_REASON_CHARS) {
    throw tooLarge(scope, 'pause_reason (characters)', reason.length, PAUSE_REASON_CHARS);
  }
}

/**
 * Error descriptions are diagnostics: rather than refuse to record a failure, a huge one is
 * cut down (stack first, then message) to fit its TEXT column.
 */
function errorJson(info: ErrorInfo): string {
  const json = JSON.stringify(info);
  if (Buffer.byteLength(json, 'utf8') <= TEXT_BYTES) return json;
  // JSON escapes make a character at most 6 bytes: these caps always fit.
  const cut: ErrorInfo = { name: info.name.slice(0, 200), message: info.message.slice(0, 8000) + '…' };
  if (info.code !== undefined) cut.code = info.code.slice(0, 200);
  return JSON.stringify(cut);
}
