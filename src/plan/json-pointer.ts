// JSON pointers (RFC 6901), as the JSON patches of a plan's transforms write them.
import { quoteShort } from '../util/quote.ts';
import { SyntaxProblem } from './syntax-problem.ts';

// ---------------------------------------------------------------------------------------------------------------
// JSON pointers (RFC 6901)

/** Parses a JSON pointer into its unescaped segments; '' is the whole document. */
export function parseJsonPointer(text: string): string[] {
  if (text === '') return [];
  if (!text.startsWith('/')) throw new SyntaxProblem(`invalid JSON pointer ${quoteShort(text)}: must start with "/" (e.g. /spec/replicas)`, 0);
  const tilde = /~(?![01])/.exec(text);
  if (tilde) throw new SyntaxProblem(`invalid JSON pointer ${quoteShort(text)}: "~" must be followed by 0 (for "~") or 1 (for "/")`, tilde.index);
  return text.slice(1).split('/').map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The pointer for a list of segments. */
export function formatJsonPointer(segments: readonly string[]): string {
  return segments.map((segment) => `/${segment.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}
