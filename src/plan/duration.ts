// Go-style durations ("500ms", "5m", "1h30m"), the way Kubernetes and most of its tools spell them.
// Plans keep the string the person wrote; code that needs a number calls parseDuration at the edge.

/** Milliseconds per unit; "us" and "µs"/"μs" are all microseconds, as in Go's time.ParseDuration. */
const unitMilliseconds = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
} as const;

type Unit = keyof typeof unitMilliseconds;

const unitList = 'ns, us, ms, s, m, h';

/** A malformed duration; the message names the input and says how to write it. */
export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

function isUnit(text: string): text is Unit {
  return Object.hasOwn(unitMilliseconds, text);
}

/**
 * Parses a Go-style duration into milliseconds (fractional below 1ms). Accepts a sequence of decimal numbers,
 * each with a unit ("1h30m", "1.5s", "250ms"), and the bare "0". Signs are refused: no setting of a plan means
 * anything with a negative duration.
 */
export function parseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  if (text === '') throw new DurationError(`invalid duration "": expected a number and a unit (${unitList}), like 500ms, 5m or 1h30m`);
  if (text.startsWith('-')) throw new DurationError(`invalid duration ${quoted}: must not be negative`);
  if (/\s/.test(text)) throw new DurationError(`invalid duration ${quoted}: no spaces allowed; write e.g. 1h30m or 10s`);
  if (text === '0') return 0;
  let total = 0;
  let rest = text;
  while (rest !== '') {
    const number = /^(\d+(?:\.\d*)?|\.\d+)/.exec(rest);
    if (!number) throw new DurationError(`invalid duration ${quoted}: expected a number and a unit (${unitList}), like 500ms, 5m or 1h30m`);
    rest = rest.slice(number[0].length);
    const unit = /^[^\d.]+/.exec(rest)?.[0] ?? '';
    if (unit === '') throw new DurationError(`missing unit in duration ${quoted}: add one of ${unitList} (e.g. ${number[0]}s)`);
    if (!isUnit(unit)) throw new DurationError(`unknown unit ${JSON.stringify(unit)} in duration ${quoted}: use one of ${unitList}`);
    rest = rest.slice(unit.length);
    total += Number(number[0]) * unitMilliseconds[unit];
  }
  // Round away floating-point noise (0.1s + 0.2s) without losing nanosecond resolution.
  return Math.round(total * 1e6) / 1e6;
}

/** A JSON Schema pattern for the same syntax (RE2-compatible, for editors and the CRDs); "0" is left out. */
export const durationPattern = '^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$';

/** True when the text is a valid duration. */
export function isDuration(text: string): boolean {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}

/** A short spelling of a duration in milliseconds, zero parts left out: 5400000 → "1h30m", 1500 → "1.5s". */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 0) return `-${formatDuration(-milliseconds)}`;
  if (milliseconds === 0) return '0s';
  if (milliseconds < 1) {
    const nanoseconds = Math.round(milliseconds * 1e6);
    return nanoseconds % 1000 === 0 ? `${nanoseconds / 1000}us` : `${nanoseconds}ns`;
  }
  if (milliseconds < 1000) return `${Math.round(milliseconds * 1e6) / 1e6}ms`;
  const hours = Math.floor(milliseconds / 3_600_000);
  const minutes = Math.floor((milliseconds % 3_600_000) / 60_000);
  const seconds = Math.round(milliseconds % 60_000) / 1000;
  return `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${seconds}s` : ''}`;
}
