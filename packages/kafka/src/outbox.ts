import type { ErrorInfo } from '@fsmkit/runtime';

/** An outbox row's id: a BIGINT in MySQL (read as a string), a number in memory. */
export type OutboxId = string | number | bigint;

/** One event waiting in an outbox, as the relay publishes it. */
export interface OutboxRow {
  id: OutboxId;
  eventId: string;
  topic: string;
  /** Message key: the instance id, so all events of an instance land on one partition. */
  key: string;
  instanceId: string;
  /** 1, 2, 3... per instance. */
  sequence: number;
  type: string;
  /** The event as JSON: published as the message value, unchanged. */
  payload: string;
  headers: Record<string, string>;
}

/**
 * Where committed events wait until a relay has published them.
 *
 * The ordering contract: for every instance present in a claim, the claimed rows are that
 * instance's earliest unsent rows. A row is never claimed while an earlier unsent row of
 * its instance is claimed by another owner or left out of the claim. So a relay that sends
 * a claim in sequence order and marks it sent before its next claim never lets an event
 * overtake an earlier event of the same instance, however many relays run.
 */
export interface Outbox {
  /** Claims up to `limit` unsent rows for `owner` for `leaseMs`; expired claims are claimable again. */
  claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRow[]>;
  /** The rows reached the broker: they are never claimed again. */
  markSent(owner: string, ids: OutboxId[]): Promise<void>;
  /** Publishing failed: releases `owner`'s claim on the rows and records the error. */
  markFailed(owner: string, ids: OutboxId[], error: ErrorInfo): Promise<void>;
}
