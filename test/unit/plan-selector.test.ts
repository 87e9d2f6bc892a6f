// The small languages inside plans: label selectors (parsed and matched like Kubernetes does), name globs,
// kind patterns and JSON pointers. Tables of good and bad input, with exact results and messages.
import test from 'ava';
import {
  compileGlob, formatJsonPointer, formatLabelSelector, globsIntersect, matchesLabelSelector, namespaceAlphabet, parseGlob, parseJsonPointer,
  parseKindPattern, parseLabelSelector,
} from '../../src/plan/parse.ts';
import type { LabelSelector } from '../../src/plan/parse.ts';

const goodSelectors: Array<[string, LabelSelector, string]> = [
  ['', [], ''],
  ['app', [{ key: 'app', operator: 'Exists', values: [] }], 'app'],
  ['!legacy', [{ key: 'legacy', operator: 'DoesNotExist', values: [] }], '!legacy'],
  ['app=web', [{ key: 'app', operator: 'Equals', values: ['web'] }], 'app=web'],
  ['app==web', [{ key: 'app', operator: 'Equals', values: ['web'] }], 'app=web'],
  ['env!=dev', [{ key: 'env', operator: 'NotEquals', values: ['dev'] }], 'env!=dev'],
  ['app=', [{ key: 'app', operator: 'Equals', values: [''] }], 'app='],
  ['tier in (b,a)', [{ key: 'tier', operator: 'In', values: ['a', 'b'] }], 'tier in (a,b)'],
  ['tier notin (a)', [{ key: 'tier', operator: 'NotIn', values: ['a'] }], 'tier notin (a)'],
  ['  tier   in  ( a , b )  ', [{ key: 'tier', operator: 'In', values: ['a', 'b'] }], 'tier in (a,b)'],
  ['replicas>2', [{ key: 'replicas', operator: 'GreaterThan', values: ['2'] }], 'replicas>2'],
  ['replicas < 10', [{ key: 'replicas', operator: 'LessThan', values: ['10'] }], 'replicas<10'],
  ['app.kubernetes.io/name=web', [{ key: 'app.kubernetes.io/name', operator: 'Equals', values: ['web'] }], 'app.kubernetes.io/name=web'],
  ['app=web,tier in (a,b),!legacy,env!=dev', [
    { key: 'app', operator: 'Equals', values: ['web'] },
    { key: 'tier', operator: 'In', values: ['a', 'b'] },
    { key: 'legacy', operator: 'DoesNotExist', values: [] },
    { key: 'env', operator: 'NotEquals', values: ['dev'] },
  ], 'app=web,tier in (a,b),!legacy,env!=dev'],
  ['version=1.2_3-x', [{ key: 'version', operator: 'Equals', values: ['1.2_3-x'] }], 'version=1.2_3-x'],
];

for (const [text, selector, canonical] of goodSelectors) {
  test(`selector ${JSON.stringify(text)} parses`, (t) => {
    t.deepEqual(parseLabelSelector(text), selector);
    t.is(formatLabelSelector(selector), canonical);
    t.deepEqual(parseLabelSelector(canonical), selector);
  });
}

const badSelectors: Array<[string, string, number]> = [
  [',', 'expected a label key, found ","', 0],
  ['app=web,', 'empty requirement after ","', 8],
  ['app=web,,x', 'empty requirement after ","', 8],
  ['=web', 'expected a label key, found "="', 0],
  ['app=web=x', 'unexpected "=": separate requirements with ","', 7],
  ['app web', 'unexpected "web" after label key "app": expected =, ==, !=, in, notin, >, < or ","', 4],
  ['app=(x)', 'expected a label value after "=", found "("', 4],
  ['!app=x', 'unexpected "=" after "!app": "!key" only tests that a label is absent', 4],
  ['!', 'expected a label key, found the end', 1],
  ['tier in a,b', 'expected "(" after "in", found "a"', 8],
  ['tier in (a,b', 'missing ")" at the end of the value list', 12],
  ['tier in (a b)', 'expected "," or ")" in the value list, found "b"', 11],
  ['tier in ()', '"in" needs at least one value', 9],
  ['tier in (a,)', 'expected a label value in the list, found ")"', 11],
  ['in in (a)', 'expected a label key, found the keyword "in"', 0],
  ['app,notin', 'expected a label key, found the keyword "notin"', 4],
  ['replicas>two', '">" needs an integer value, found "two"', 9],
  ['replicas<', '"<" needs an integer value, found the end', 9],
  ['App Name=x', 'unexpected "Name" after label key "App": expected =, ==, !=, in, notin, >, < or ","', 4],
  ['-app=x', 'invalid label key "-app": name part must consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit', 0],
  ['a/b/c=x', 'invalid label key "a/b/c": must be a name with an optional DNS prefix, like "app.kubernetes.io/name": at most one "/"', 0],
  ['Example.com/app=x', 'invalid label key "Example.com/app": prefix "Example.com" must consist of lowercase letters, digits, "-" and ".", and start and end with a letter or digit', 0],
  [`app=${'x'.repeat(64)}`, 'invalid label value "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": must be at most 63 characters (it has 64)', 4],
  ['app=-web', 'invalid label value "-web": must be empty or consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit', 4],
];

for (const [text, message, offset] of badSelectors) {
  test(`selector ${JSON.stringify(text)} is refused`, (t) => {
    const error = t.throws(() => parseLabelSelector(text), { message });
    t.is((error as unknown as { offset: number }).offset, offset);
  });
}

test('selectors match labels with Kubernetes semantics', (t) => {
  const labels = { app: 'web', tier: 'a', replicas: '3', empty: '' };
  const cases: Array<[string, boolean]> = [
    ['', true], ['app', true], ['missing', false], ['!missing', true], ['!app', false], ['app=web', true], ['app=db', false],
    ['app!=db', true], ['missing!=x', true], ['tier in (a,b)', true], ['tier in (c)', false], ['tier notin (c)', true],
    ['missing notin (c)', true], ['missing in (c)', false], ['replicas>2', true], ['replicas>3', false], ['replicas<4', true],
    ['app>1', false], ['missing<4', false], ['empty=', true], ['empty', true], ['app=web,tier in (a,b),!legacy,env!=dev', true],
    ['app=web,tier=b', false],
  ];
  for (const [text, expected] of cases) t.is(matchesLabelSelector(parseLabelSelector(text), labels), expected, text);
  t.false(matchesLabelSelector(parseLabelSelector('app'), undefined));
  t.true(matchesLabelSelector(parseLabelSelector('!app'), undefined));
});

test('globs match whole names', (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['shop-*', 'shop-frontend', true], ['shop-*', 'shop-', true], ['shop-*', 'shop', false], ['shop-*', 'myshop-a', false],
    ['*-frontend', 'shop-frontend', true], ['*', '', true], ['*', 'anything', true], ['shop', 'shop', true], ['shop', 'shops', false],
    ['web-?', 'web-1', true], ['web-?', 'web-10', false], ['web-[0-9]', 'web-7', true], ['web-[0-9]', 'web-x', false],
    ['web-[!0-9]', 'web-x', true], ['web-[!0-9]', 'web-7', false], ['a*b*c', 'aXbYc', true], ['a*b*c', 'aXbY', false],
    ['*a*', 'banana', true], ['**', 'x', true], ['a*a', 'aa', true], ['a*a', 'a', false],
  ];
  for (const [pattern, name, expected] of cases) t.is(compileGlob(pattern)(name), expected, `${pattern} ~ ${name}`);
});

test('bad globs are refused with the offset of the fault', (t) => {
  const cases: Array<[string, string, number]> = [
    ['', 'empty pattern: use "*" to match every name', 0],
    ['web-[0-9', 'unclosed "[" in pattern "web-[0-9": add "]"', 4],
    ['web-[]', 'empty character class "[]" in pattern "web-[]"', 4],
    ['web-[9-0]', 'reversed range "9-0" in pattern "web-[9-0]": write "0-9"', 5],
    ['Shop', 'invalid character "S" in pattern "Shop": namespace names have lowercase letters, digits and "-", plus the wildcards *, ? and [...]', 0],
    ['shop_a', 'invalid character "_" in pattern "shop_a": namespace names have lowercase letters, digits and "-", plus the wildcards *, ? and [...]', 4],
    ['shop a', 'invalid character " " in pattern "shop a": namespace names have lowercase letters, digits and "-", plus the wildcards *, ? and [...]', 4],
  ];
  for (const [pattern, message, offset] of cases) {
    const error = t.throws(() => parseGlob(pattern, namespaceAlphabet), { message }, pattern);
    t.is((error as unknown as { offset: number }).offset, offset, pattern);
  }
});

test('glob intersection is exact', (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['*', 'shop', true], ['shop-*', '*-frontend', true], ['shop-*', 'blog-*', false], ['shop', 'shop', true], ['shop', 'shops', false],
    ['a*', '*b', true], ['a?', 'a', false], ['a?', '?b', true], ['web-[0-4]', 'web-[5-9]', false], ['web-[0-5]', 'web-[5-9]', true],
    ['web-[!0-9]', 'web-1', false], ['web-[!0-9]', 'web-x', true], ['*x*', '*y*', true], ['ab*', 'ac*', false], ['*-a', '*-b', false],
  ];
  for (const [a, b, expected] of cases) {
    t.is(globsIntersect(a, b), expected, `${a} ∩ ${b}`);
    t.is(globsIntersect(b, a), expected, `${b} ∩ ${a}`);
  }
});

test('kind patterns', (t) => {
  t.deepEqual(parseKindPattern('*'), { group: '*', kind: '*' });
  t.deepEqual(parseKindPattern('ConfigMap'), { group: '', kind: 'ConfigMap' });
  t.deepEqual(parseKindPattern('apps/Deployment'), { group: 'apps', kind: 'Deployment' });
  t.deepEqual(parseKindPattern('apps/*'), { group: 'apps', kind: '*' });
  t.deepEqual(parseKindPattern('monitoring.coreos.com/ServiceMonitor'), { group: 'monitoring.coreos.com', kind: 'ServiceMonitor' });
  const forms = 'write Kind for the core group (ConfigMap), group/Kind for the others (apps/Deployment), group/* or *';
  t.throws(() => parseKindPattern('deployments'), { message: `invalid kind "deployments": ${forms}` });
  t.throws(() => parseKindPattern('apps/v1/Deployment'), { message: `invalid kind "apps/v1/Deployment": ${forms}` });
  t.throws(() => parseKindPattern('Apps/Deployment'), {
    message: 'invalid API group "Apps" in kind "Apps/Deployment": must consist of lowercase letters, digits, "-" and ".", and start and end with a letter or digit',
  });
  t.throws(() => parseKindPattern('/Deployment'), { message: 'invalid API group "" in kind "/Deployment": must not be empty' });
});

test('JSON pointers', (t) => {
  t.deepEqual(parseJsonPointer(''), []);
  t.deepEqual(parseJsonPointer('/spec/replicas'), ['spec', 'replicas']);
  t.deepEqual(parseJsonPointer('/metadata/labels/app.kubernetes.io~1name'), ['metadata', 'labels', 'app.kubernetes.io/name']);
  t.deepEqual(parseJsonPointer('/a~0b/~01'), ['a~b', '~1']);
  t.deepEqual(parseJsonPointer('/'), ['']);
  t.is(formatJsonPointer(['metadata', 'labels', 'app.kubernetes.io/name', 'a~b']), '/metadata/labels/app.kubernetes.io~1name/a~0b');
  t.throws(() => parseJsonPointer('spec'), { message: 'invalid JSON pointer "spec": must start with "/" (e.g. /spec/replicas)' });
  t.throws(() => parseJsonPointer('/a~'), { message: 'invalid JSON pointer "/a~": "~" must be followed by 0 (for "~") or 1 (for "/")' });
});
