import { headerText } from '../header.js';

/**
 * JSON text of a generated document: the header in a leading `$comment`, two-space indent,
 * a final newline. Key order is the order the emitters build objects in, which is fixed.
 */
export function jsonDocument(body: Record<string, unknown>, source?: string): string {
  return `${JSON.stringify({ $comment: headerText(source), ...body }, null, 2)}\n`;
}
