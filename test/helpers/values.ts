// Values that hostile or merely unusual objects hold, which a YAML or JSON round trip can change: shared by the
// writer's unit tests and the end-to-end test, so both hold the pipeline to the same list.

/** Every scalar that some YAML reader (1.1, 1.2, Go's, PyYAML) takes for something other than a string. */
export const lookAlikes = ['0o17', '0O17', '0x1F', '0X1F', '0b101', '017', '0o022', '09', '+1', '-1', '1e3', '1E3', '-1.5e-3', '.5', '1.', '.inf', '-.Inf',
  '.NaN', 'yes', 'no', 'on', 'off', 'y', 'n', 'Yes', 'NO', 'true', 'False', '~', 'null', 'Null', '', '2026-12-01', '2026-1-2',
  '2001-12-14t21:59:43.10-05:00', '1_000', '0x_1F', '0o1_7', '1:20', '=', '<<',
  'E0', 'e+5']; // the last two: floats (NaN) to the `yaml` library's YAML 1.1 schema

/** Characters YAML readers fold (NEL, the line and paragraph separators), refuse (DEL, C1 controls, U+FFFE/U+FFFF) or strip (a BOM). */
export const awkwardCharacters = ['\u0085', '\u007f', '\u0080', '\u009f', '\ufffe', '\uffff', '\u2028', '\u2029', '\ufeff', '\u0000', '\u001b'];

/** Each of those characters alone, at either end, inside a value, and in a multi-line string. */
export const awkwardStrings = awkwardCharacters.flatMap((character) => [character, `a${character}`, `${character}a`, `UMASK${character}=0o022`, `line one${character}\nline two\n`]);

/** Integers a custom resource's int64 fields can hold that a JavaScript number cannot (and their safe neighbours). */
export const largeIntegers = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 1234567890123456789n, -(2n ** 53n) - 1n];
