// Quoting what a person typed into a message: a value is shown as JSON, cut to a length a terminal line can hold,
// so a 10,000-segment pointer or a pasted file never turns an error into kilobytes.

/** `value` as a JSON string, its middle cut out (with the length it had) when it is longer than `max` characters. */
export function quoteShort(value: string, max = 80): string {
  if (value.length <= max) return JSON.stringify(value);
  const keep = Math.floor((max - 1) / 2);
  return `${JSON.stringify(`${value.slice(0, keep)}…${value.slice(-keep)}`)} (${value.length} characters)`;
}

/** `value` as it is when it fits in `max` characters, else its start and end around "…" and the length it had. */
export function shortened(value: string, max = 80): string {
  if (value.length <= max) return value;
  const keep = Math.floor((max - 1) / 2);
  return `${value.slice(0, keep)}…${value.slice(-keep)} (${value.length} characters)`;
}
