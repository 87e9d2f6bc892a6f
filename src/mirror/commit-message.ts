// Mirror commit messages: the summary, one line per changed object and `Key: value` trailers that the history,
// rollback and the plan runner read back.

/** A commit message: summary line, one line per changed object, a blank line, then `Key: value` trailers. */
export function commitMessage(summary: string, lines: string[], trailers: Record<string, string>): string {
  const trailerText = Object.entries(trailers).map(([key, value]) => `${key}: ${value}`).join('\n');
  return [summary, '', ...lines, ...(lines.length ? [''] : []), trailerText].join('\n');
}

/** Parses `Key: value` trailers from the last paragraph of a commit message. */
export function parseTrailers(message: string): Record<string, string> {
  const paragraphs = message.trimEnd().split(/\n\s*\n/);
  const last = paragraphs.at(-1) ?? '';
  const trailers: Record<string, string> = {};
  for (const line of last.split('\n')) {
    const match = /^([A-Za-z][A-Za-z0-9-]*): (.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) trailers[match[1]] = match[2];
  }
  return trailers;
}
