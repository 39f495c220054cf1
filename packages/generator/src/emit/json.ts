import { headerText } from '../header.js';

/**
 * JSON text of a generated document: the header in a leading `$comment` (or `headerKey`, for
 * formats that allow no such property), two-space indent, a final newline. Key order is the
 * order the emitters build objects in, which is fixed.
 */
export function jsonDocument(body: Record<string, unknown>, source?: string, headerKey = '$comment'): string {
  return `${JSON.stringify({ [headerKey]: headerText(source), ...body }, null, 2)}\n`;
}
