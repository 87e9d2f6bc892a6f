// Every value arrives exact: integers beyond 2^53 and strings with characters YAML readers change, followed through
// each representation an object takes (the API server's JSON, the bus's JSON, the mirror's YAML, the JSON applied to
// the destination, which the API server reads as YAML), compared digit for digit and byte for byte.
import test from 'ava';
import { parse } from 'yaml';
import { normalize, toYaml } from '../../src/pipeline/normalize.ts';
import { compileTransforms, type KubeObject } from '../../src/pipeline/transforms.ts';
import { TransformSchema } from '../../src/plan/schema.ts';
import { escapeForYamlReaders, parseJson, stringifyJson } from '../../src/util/json.ts';
import { parseYaml } from '../../src/util/yaml.ts';

const int64Max = '9223372036854775807';
const int64Min = '-9223372036854775808';

/** A custom resource as the API server sends it: JSON text, int64 fields beyond 2^53 among safe ones and floats. */
const resourceJson = `{"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"big","namespace":"shop","uid":"u-1","resourceVersion":"42"},`
  + `"spec":{"max":${int64Max},"min":${int64Min},"next":9007199254740993,"limit":9007199254740992,"safe":9007199254740991,"small":-7,"ratio":0.1,`
  + `"huge":1e+21,"list":[1,9007199254740995,{"id":1234567890123456789}],"umask":"0o022","nel":"a\u0085b","del":"\u007f","nonchar":"\ufffe",`
  + `"separators":"\u2028\u2029","bom":"\ufeffx","digits":"12345678901234567890"}}`;

test('parseJson reads integers beyond 2^53 as bigints and everything else as JSON.parse does', (t) => {
  const value = parseJson(resourceJson) as { spec: Record<string, unknown> };
  t.is(value.spec.max, 2n ** 63n - 1n);
  t.is(value.spec.min, -(2n ** 63n));
  t.is(value.spec.next, 9007199254740993n);
  t.is(value.spec.limit, 9007199254740992n, '2^53 is not safe: a bigint too, so the rule needs no look at neighbours');
  t.is(value.spec.safe, 9007199254740991);
  t.is(value.spec.ratio, 0.1);
  t.is(value.spec.huge, 1e21, 'a float with an exponent stays a number');
  t.deepEqual(value.spec.list, [1, 9007199254740995n, { id: 1234567890123456789n }]);
  t.is(value.spec.digits, '12345678901234567890', 'digits in a string stay a string');
  const plain = '{"a":1,"b":[2.5,"x"],"c":{"d":null,"e":true}}';
  t.deepEqual(parseJson(plain), JSON.parse(plain));
  t.throws(() => parseJson('{"a":'), { instanceOf: SyntaxError });
});

test('stringifyJson writes bigints as their digits, and is JSON.stringify for values without them', (t) => {
  t.is(stringifyJson(parseJson(resourceJson)), resourceJson, 'the API server\'s text, byte for byte');
  const plain = { a: 1, b: [2.5, 'x'], c: { d: null, e: true }, f: undefined };
  t.is(stringifyJson(plain), JSON.stringify(plain));
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  t.throws(() => stringifyJson(cycle), { instanceOf: TypeError });
});

test('escapeForYamlReaders: the same JSON, and a YAML reader reads the same strings', (t) => {
  const json = stringifyJson(parseJson(resourceJson));
  const escaped = escapeForYamlReaders(json);
  t.false(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/.test(escaped));
  t.deepEqual(parseJson(escaped), parseJson(json), 'as JSON, nothing changed');
  const asYaml11 = parse(escaped, { version: '1.1', intAsBigInt: true }) as { spec: Record<string, unknown> };
  const spec = (parseJson(json) as { spec: Record<string, unknown> }).spec;
  for (const key of ['nel', 'del', 'nonchar', 'separators', 'bom', 'umask']) t.is(asYaml11.spec[key], spec[key], `${key}, read as YAML 1.1`);
  t.is(escapeForYamlReaders('{"a":"plain"}'), '{"a":"plain"}');
});

test('an object from the API server through the bus, the processor, the mirror and back to JSON: digit for digit, byte for byte', (t) => {
  const fromServer = parseJson(resourceJson) as KubeObject;
  const overTheBus = parseJson(stringifyJson({ type: 'source.upserted', object: fromServer })) as { object: KubeObject };
  // A plan's JSON patch on an object with bigints (the patch library copies through JSON.stringify unless asked not to).
  const transform = compileTransforms([TransformSchema.parse({ jsonPatch: [{ op: 'add', path: '/metadata/labels', value: { dr: 'yes' } }] })]);
  const destination = transform(normalize(overTheBus.object).object as KubeObject, true);
  const mirrorText = toYaml(destination);
  t.true(mirrorText.includes(`max: ${int64Max}\n`) && mirrorText.includes(`min: ${int64Min}\n`) && mirrorText.includes('next: 9007199254740993\n'));
  t.true(mirrorText.includes('umask: "0o022"\n'), 'quoted: YAML 1.2 reads 0o022 as 18');
  const applied = escapeForYamlReaders(stringifyJson(parseYaml(mirrorText)));
  const expected = parseJson(resourceJson) as KubeObject;
  delete expected.metadata.uid;
  delete expected.metadata.resourceVersion;
  expected.metadata.labels = { dr: 'yes' };
  t.deepEqual(parseJson(applied), expected, 'the destination gets exactly the source\'s values');
  for (const literal of [int64Max, int64Min, '9007199254740993', '9007199254740992', '9007199254740995', '1234567890123456789']) {
    t.true(applied.includes(literal), `${literal} in the apply body`);
  }
});
