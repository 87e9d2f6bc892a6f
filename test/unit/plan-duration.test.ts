// Go-style durations: the table of what parses to how many milliseconds, what is refused and why.
import test from 'ava';
import { formatDuration, isDuration, parseDuration } from '../../src/plan/duration.ts';

const good: Array<[string, number]> = [
  ['0', 0],
  ['1s', 1000],
  ['500ms', 500],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['2h45m30.5s', 9_930_500],
  ['1.5s', 1500],
  ['.5s', 500],
  ['1.s', 1000],
  ['250us', 0.25],
  ['250µs', 0.25],
  ['250μs', 0.25],
  ['100ns', 0.0001],
  ['1m1m', 120_000],
  ['0.1s0.2s', 300],
  ['10s', 10_000],
];

for (const [text, milliseconds] of good) {
  test(`duration ${JSON.stringify(text)} is ${milliseconds}ms`, (t) => {
    t.is(parseDuration(text), milliseconds);
    t.true(isDuration(text));
  });
}

const bad: Array<[string, string]> = [
  ['', 'invalid duration "": expected a number and a unit (ns, us, ms, s, m, h), like 500ms, 5m or 1h30m'],
  ['5', 'missing unit in duration "5": add one of ns, us, ms, s, m, h (e.g. 5s)'],
  ['1h30', 'missing unit in duration "1h30": add one of ns, us, ms, s, m, h (e.g. 30s)'],
  ['5min', 'unknown unit "min" in duration "5min": use one of ns, us, ms, s, m, h'],
  ['1d', 'unknown unit "d" in duration "1d": use one of ns, us, ms, s, m, h'],
  ['5S', 'unknown unit "S" in duration "5S": use one of ns, us, ms, s, m, h'],
  ['-1s', 'invalid duration "-1s": must not be negative'],
  ['+1s', 'invalid duration "+1s": expected a number and a unit (ns, us, ms, s, m, h), like 500ms, 5m or 1h30m'],
  ['s', 'invalid duration "s": expected a number and a unit (ns, us, ms, s, m, h), like 500ms, 5m or 1h30m'],
  ['.s', 'invalid duration ".s": expected a number and a unit (ns, us, ms, s, m, h), like 500ms, 5m or 1h30m'],
  ['1h 30m', 'invalid duration "1h 30m": no spaces allowed; write e.g. 1h30m or 10s'],
  ['PT5M', 'invalid duration "PT5M": expected a number and a unit (ns, us, ms, s, m, h), like 500ms, 5m or 1h30m'],
];

for (const [text, message] of bad) {
  test(`duration ${JSON.stringify(text)} is refused`, (t) => {
    t.throws(() => parseDuration(text), { message, name: 'DurationError' });
    t.false(isDuration(text));
  });
}

test('durations format back to short Go spellings', (t) => {
  t.deepEqual([0, 0.0001, 0.25, 1, 500, 1000, 1500, 60_000, 90_000, 3_600_000, 5_400_000, 3_630_000].map(formatDuration),
    ['0s', '100ns', '250us', '1ms', '500ms', '1s', '1.5s', '1m', '1m30s', '1h', '1h30m', '1h30s']);
  for (const text of ['1h30m', '500ms', '1m30s', '2h', '45s']) t.is(formatDuration(parseDuration(text)), text);
});
