/**
 * A statement that stops a multi-statement packet unless the statement just before it changed
 * (or, with the FOUND_ROWS flag of our pools, matched) exactly `rows` rows: 1 added to the
 * largest BIGINT UNSIGNED fails with ER_DATA_OUT_OF_RANGE in every sql_mode, and the server
 * runs none of the packet's statements after an error, so COMMIT is never reached. A SELECT
 * with no table costs the server a fraction of a two-row derived table (a temporary table per
 * check); `DO` would swallow the error.
 */
export function stopUnlessRows(rows: number): string {
  return `SELECT (ROW_COUNT() <> ${rows}) + 18446744073709551615 INTO @fsm_unmatched`;
}

/** What a packet stopped by `stopUnlessRows` fails with. */
export const ER_STOPPED = 1690;
