// The fast YAML paths against the `yaml` library: the same text out, the same values in, for objects like the
// mirror's and for thousands of random ones built from the characters and words YAML treats specially.
import test from 'ava';
import { parse } from 'yaml';
import { libraryYaml, toYaml } from '../../src/pipeline/normalize.ts';
import { parseYaml, readYamlSubset } from '../../src/util/yaml.ts';

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
  '1e3', '.5', '1.5', '-2', '0x1F', '0o17', '1_000', '1:20', '2024-01-01', '2001-12-14t21:59:43.10-05:00', '.inf', '-.Inf', '.NaN', 'nginx:1.25',
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
  if (roll < 0.52) return [0, 1, -7, 42, 1.5, -0.25, 1e21, 2 ** 53, -0][Math.floor(next() * 9)];
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
    const reference = parse(written) as unknown;
    if (JSON.stringify(read) !== JSON.stringify(reference)) return t.fail(`seed ${seed}: read ${JSON.stringify(read)}\nlibrary ${JSON.stringify(reference)}\nfrom\n${written}`);
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
      expected = parse(text);
    } catch (error) {
      t.throws(() => parseYaml(text), undefined, `the library rejects ${JSON.stringify(text)} (${(error as Error).message}); so must the fast reader`);
      continue;
    }
    t.deepEqual(parseYaml(text), expected, JSON.stringify(text));
  }
});
