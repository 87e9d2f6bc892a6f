// The fast YAML paths against the `yaml` library: the same text out, the same values in, for objects like the
// mirror's and for thousands of random ones built from the characters and words YAML treats specially.
import test from 'ava';
import { parse } from 'yaml';
import { libraryYaml, toYaml } from '../../src/pipeline/normalize.ts';
import { stringifyJson } from '../../src/util/json.ts';
import { parseYaml, parseYamlWithLibrary, readYamlSubset } from '../../src/util/yaml.ts';
import { awkwardStrings, lookAlikes } from '../helpers/values.ts';

/** A small deterministic generator (mulberry32), so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const words = ['', 'y', 'n', 'N', 'yes', 'No', 'on', 'OFF', 'true', 'False', 'null', 'Null', '~', '<<', '-', '--', '---', '...', '0', '-0', '00', '0755',
  '1e3', 'E0', 'e+5', '.5', '1.5', '-2', '0x1F', '0o17', '0O17', '=', '1_000', '1:20', '2024-01-01', '2001-12-14t21:59:43.10-05:00', '.inf', '-.Inf', '.NaN', 'nginx:1.25',
  'http://example.com/a?b=c#d', 'a: b', 'a #b', 'a#b', '#a', 'a:', ':a', '@a', '`a', '!a', '&a', '*a', '%a', '|', '>', '? a', '- a', '[a]', '{a}',
  'a,b', 'a]b', '"', "'", "it's", 'x"y', '\\', 'a\\nb', 'line1\nline2', 'trailing\n', ' lead', 'trail ', 'a  b', 'tab\there', 'é', '日本',
  'app.kubernetes.io/name', 'kubectl.kubernetes.io/restartedAt', '100m', '64Mi', '8080', 'TCP', 'IfNotPresent', '__proto__', 'constructor', 'x=y', 'a+b'];
const alphabet = 'abcXYZ019 :#-_./@"\'\\,[]{}!&*|>?%`~=+\té\n';

function randomString(next: () => number): string {
  if (next() < 0.6) return words[Math.floor(next() * words.length)]!;
  const length = Math.floor(next() * 8);
  let text = next() < 0.5 ? 'a' : '';
  for (let index = 0; index < length; index++) text += alphabet[Math.floor(next() * alphabet.length)];
  return text;
}

/** As JSON.parse sets a key: an own property even for `__proto__`. */
function setOwn(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function randomValue(next: () => number, depth: number): unknown {
  const roll = next();
  if (depth > 3 || roll < 0.45) return randomString(next);
  // Integers beyond 2^53 are bigints, as parseJson reads them from the API server.
  if (roll < 0.52) return [0, 1, -7, 42, 1.5, -0.25, 1e21, 2n ** 53n, -0, 2n ** 63n - 1n, -(2n ** 63n)][Math.floor(next() * 11)];
  if (roll < 0.56) return next() < 0.5;
  if (roll < 0.58) return null;
  if (roll < 0.8) {
    const map: Record<string, unknown> = {};
    for (let count = Math.floor(next() * 4); count > 0; count--) setOwn(map, randomString(next), randomValue(next, depth + 1));
    return map;
  }
  return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
}

const deployment = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', labels: { app: 'web', 'app.kubernetes.io/version': '1.0', tier: 'y' }, annotations: { 'lifeboat.dev/replicas': '3', note: 'line one\nline two' } },
  spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1.2.3', args: ['--port=8080', '-v'], env: [{ name: 'MODE', value: 'on' }, { name: 'EMPTY', value: '' }],
      ports: [{ containerPort: 8080, protocol: 'TCP' }], resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: {} } }], volumes: [] } } },
};

test('the fast emitter writes exactly what the library writes, for the mirror\'s objects', (t) => {
  t.is(toYaml(deployment), libraryYaml(deployment));
  const configMap = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'settings' }, data: { 'bench-counter': '3', 'app.yaml': 'a: 1\nb: [2]\n', empty: '' } };
  t.is(toYaml(configMap), libraryYaml(configMap));
  t.regex(toYaml(configMap), /bench-counter: "3"/);
});

test('the mirror\'s objects, an encrypted Secret (a multi-line annotation) among them, take the fast paths', (t) => {
  const armored = '-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3Yx\n-----END AGE ENCRYPTED FILE-----\n';
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n', annotations: { 'lifeboat.dev/encrypted-data': armored, 'lifeboat.dev/data-hash': 'hmac-sha256:00ff' } }, type: 'Opaque' };
  for (const object of [secret, deployment]) {
    const text = toYaml(object);
    t.is(text, libraryYaml(object));
    t.deepEqual(readYamlSubset(text), parse(text), 'read by the fast reader, not handed to the library');
  }
  t.regex(toYaml(secret), /lifeboat\.dev\/encrypted-data: \|\n {6}-----BEGIN AGE ENCRYPTED FILE-----\n/);
});

test('random objects: the same text as the library, and both readers read back the same values', (t) => {
  for (let seed = 1; seed <= 5000; seed++) {
    const next = random(seed);
    const object: Record<string, unknown> = { apiVersion: 'v1', kind: randomString(next), metadata: { name: randomString(next) } };
    for (let count = Math.floor(next() * 6); count > 0; count--) setOwn(object, randomString(next), randomValue(next, 0));
    const expected = libraryYaml(object);
    const written = toYaml(object);
    if (written !== expected) return t.fail(`seed ${seed}: emitted\n${written}\nlibrary\n${expected}`);
    const read = parseYaml(written);
    const reference = parseYamlWithLibrary(written);
    if (stringifyJson(read) !== stringifyJson(reference)) return t.fail(`seed ${seed}: read ${stringifyJson(read)}\nlibrary ${stringifyJson(reference)}\nfrom\n${written}`);
  }
  t.pass();
});

test('YAML written by hand reads as the library reads it, including what the fast reader leaves to the library', (t) => {
  const documents = [
    'a: 1\nb:\n- x\n- y\nc: d\n', // lists at the key's column
    'a: 1 # comment\n', '# only a comment\na: b\n', 'a: &x 1\nb: *x\n', 'a: !!str 1\n', 'a: |\n  text\n', 'a: >\n  folded\n  text\n',
    'a: [1, 2]\n', 'a: {b: 1}\n', '---\na: 1\n', 'a:\n', 'a: "x\\x41"\n', "a: 'it''s'\n", 'a: "tab\\tq\\"u"\n', 'a:\n  b:\n    - c: 1\n      d: 2\n    - - e\n      - f\n',
    'a: 0x1F\nb: 1e3\nc: .inf\nd: -.5\ne: 010\nf: ~\ng: Null\nh: TRUE\ni: yes\nj: 2024-01-01\n', 'a: multi\n  line plain\n', 'a:   spaced\n', 'a: 1\r\nb: 2\r\n',
    'a: |-\n  x\n\n  y\nb: 1\n', 'a: |+\n  x\n\n\nb: 1\n', 'a: |\n  x\n\n', 'a: |2\n   x\n', 'a:\n  - |\n    x\n', 'a: |\n  x\n y\n', 'a: |\n    deep\n  shallow\n',
    'key with spaces: v\n', '"quoted key": v\n', '? complex\n: value\n', 'a: 1\na: 2\n', '- a\n- b: c\n  d: e\n', 'a: "unterminated\n  continued"\n',
  ];
  for (const text of documents) {
    let expected: unknown;
    try {
      expected = parseYamlWithLibrary(text);
    } catch (error) {
      t.throws(() => parseYaml(text), undefined, `the library rejects ${JSON.stringify(text)} (${(error as Error).message}); so must the fast reader`);
      continue;
    }
    t.deepEqual(parseYaml(text), expected, JSON.stringify(text));
  }
});

/** The values as every reader reads them: the fast reader, the library (1.2, as the mirror is read) and YAML 1.1. */
function readers(text: string): Record<string, unknown> {
  return { parseYaml: parseYaml(text), library: parseYamlWithLibrary(text), 'YAML 1.1': parse(text, { version: '1.1', intAsBigInt: false }) };
}

test('strings that look like numbers, booleans, null, dates or merge keys are written so that every reader reads the same string', (t) => {
  const data = Object.fromEntries(lookAlikes.map((value, index) => [`k${index}`, value]));
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'look-alikes' }, data };
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: { template: { spec: { containers: [{ name: 'web', env: lookAlikes.map((value) => ({ name: 'UMASK', value })) }] } } } };
  const keys = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keys' }, data: Object.fromEntries(lookAlikes.filter(Boolean).map((value) => [value, value])) };
  for (const object of [configMap, deployment, keys]) {
    const written = toYaml(object);
    t.is(written, libraryYaml(object), 'the fast emitter and the library write the same text');
    for (const [reader, value] of Object.entries(readers(written))) t.deepEqual(value, object, `${reader} reads back every string\n${written}`);
  }
  t.regex(toYaml(configMap), /k0: "0o17"\n/);
  t.regex(toYaml(keys), /\n {2}"=": "="\n/);
  t.regex(toYaml(keys), /\n {2}"<<": "<<"\n/);
});

test('strings with characters YAML readers fold, refuse or strip are written with \\u escapes and read back unchanged', (t) => {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'characters' }, data: Object.fromEntries(awkwardStrings.map((value, index) => [`k${index}`, value])) };
  const keys = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keys' }, data: Object.fromEntries(awkwardStrings.map((value) => [value, value])) };
  for (const object of [configMap, keys]) {
    const written = toYaml(object);
    t.is(written, libraryYaml(object), 'the fast emitter and the library write the same text');
    t.false(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/.test(written), 'none of those characters is written raw');
    for (const [reader, value] of Object.entries(readers(written))) t.deepEqual(value, object, `${reader} reads back every string`);
  }
  t.regex(toYaml(configMap), /k0: "\\u0085"\n/);
});

test('integers beyond 2^53 are written and read digit for digit (bigints), safe integers and floats as numbers', (t) => {
  const integers = [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 10n ** 30n, -(2n ** 53n) - 1n];
  const numbers = [0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 1.5, 0.1, -0.25, 1e21, 1e-7, 123456789012345.6];
  const resource = { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'big' }, spec: { integers, numbers, nested: { max: 2n ** 63n - 1n, list: [{ id: 9007199254740993n }] } } };
  const written = toYaml(resource);
  t.is(written, libraryYaml(resource));
  t.true(written.includes('- 9007199254740993\n') && written.includes('- 9223372036854775807\n') && written.includes('- -9223372036854775808\n'));
  t.true(written.includes('max: 9223372036854775807\n'));
  t.deepEqual(parseYaml(written), resource, 'the fast reader');
  t.deepEqual(readYamlSubset(written), resource, 'read by the fast reader itself, not handed to the library');
  t.deepEqual(parseYamlWithLibrary(written), resource, 'the library');
  // What the library reads in a document outside the fast subset (a comment), and hex or octal as well.
  t.deepEqual(parseYaml('# by hand\na: 9223372036854775807\nb: 0x7fffffffffffffff\nc: 0o777777777777777777777\nd: 12\ne: 1.0\n'),
    { a: 2n ** 63n - 1n, b: 2n ** 63n - 1n, c: 8n ** 21n - 1n, d: 12, e: 1 });
});
