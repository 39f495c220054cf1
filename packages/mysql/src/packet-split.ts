import type { SqlValue } from './rows.js';

/**
 * Room kept in every packet for the statement's own text, the protocol's headers and the
 * length prefix of each value.
 */
export const PACKET_MARGIN = 16_384;

/**
 * An upper bound of a value's bytes in a statement, as text or as a bound parameter: a string
 * at twice its UTF-8 length (a hexadecimal literal, or every quote doubled), plus its quotes or
 * length prefix.
 */
export function valueBytes(v: SqlValue): number {
  return typeof v === 'string' ? 2 * Buffer.byteLength(v, 'utf8') + 16 : 32;
}

/**
 * Multi-row INSERTs cut so that no statement's values outgrow `budget` bytes; a row larger than
 * that alone goes alone (the server then refuses it with its own error).
 */
export function splitRows(rows: SqlValue[][], budget: number): SqlValue[][][] {
  const chunks: SqlValue[][][] = [];
  let chunk: SqlValue[][] = [];
  let bytes = 0;
  for (const row of rows) {
    let size = 0;
    for (const v of row) size += valueBytes(v);
    if (chunk.length > 0 && bytes + size > budget) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
