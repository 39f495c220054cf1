import { FsmError } from './errors.js';
import type { HistoryRecord, InstanceRecord } from './records.js';

/**
 * A self-contained text form of one instance and its history, so that an instance saved in
 * one process (or store) can be restored in another and resumed there.
 */
export const TRANSFER_FORMAT = 'fsmkit.instance/1';

interface Transfer {
  format: typeof TRANSFER_FORMAT;
  record: InstanceRecord;
  history: HistoryRecord[];
}

const RECORD_DATES = ['createdAt', 'updatedAt', 'nextRunAt'] as const;
/** Fields later releases added, with what an instance exported before them had. */
const ADDED_FIELDS = {
  takeovers: 0,
  priority: 0,
  waitMessage: null,
  waitKey: null,
  waitingFor: null,
  parentMachine: null,
  parentId: null,
  chainedFrom: null,
} as const satisfies Partial<InstanceRecord>;
const HISTORY_DATES = ['startedAt', 'finishedAt'] as const;

export function encodeTransfer(record: InstanceRecord, history: HistoryRecord[]): string {
  return JSON.stringify({ format: TRANSFER_FORMAT, record, history } satisfies Transfer);
}

export function decodeTransfer(text: string, machine: string): Transfer {
  let parsed: Partial<Transfer>;
  try {
    parsed = JSON.parse(text) as Partial<Transfer>;
  } catch (cause) {
    throw new FsmError('FSM_DESERIALIZE', 'exported instance is not valid JSON', { cause, context: { machine } });
  }
  if (parsed.format !== TRANSFER_FORMAT || !parsed.record || !Array.isArray(parsed.history)) {
    throw new FsmError('FSM_DESERIALIZE', `exported instance is not in ${TRANSFER_FORMAT} format`, { context: { machine } });
  }
  if (parsed.record.machine !== machine) {
    throw new FsmError(
      'FSM_INVALID_STATE',
      `exported instance belongs to machine "${parsed.record.machine}", not "${machine}"`,
      { context: { machine, id: parsed.record.id } },
    );
  }
  const record = parsed.record as unknown as Record<string, unknown>;
  for (const k of RECORD_DATES) record[k] = record[k] === null ? null : new Date(record[k] as string);
  for (const [k, absent] of Object.entries(ADDED_FIELDS)) if (record[k] === undefined) record[k] = absent;
  const history = parsed.history.map((h) => {
    const row = { ...h } as unknown as Record<string, unknown>;
    for (const k of HISTORY_DATES) row[k] = new Date(row[k] as string);
    return row as unknown as HistoryRecord;
  });
  return { format: TRANSFER_FORMAT, record: parsed.record, history };
}
