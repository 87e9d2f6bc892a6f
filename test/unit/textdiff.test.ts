import test from 'ava';
import { parseObjectArgument } from '../../src/cli/history.ts';
import { maskSecretValues, unifiedDiff } from '../../src/mirror/textdiff.ts';

/** Both sides rebuilt from a diff with unlimited context: what a reader of the diff sees must be the files. */
function sides(diff: string): { before: string[]; after: string[] } {
  const body = diff.split('\n').filter((line) => line && !line.startsWith('---') && !line.startsWith('+++') && !line.startsWith('@@'));
  return { before: body.filter((line) => !line.startsWith('+')).map((line) => line.slice(1)), after: body.filter((line) => !line.startsWith('-')).map((line) => line.slice(1)) };
}

test('a unified diff holds both files exactly and marks only what changed', (t) => {
  const before = 'a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n';
  const after = 'a: 1\nb: two\nc: 3\nd: 4\ne: 5\nf: 6\n';
  const whole = unifiedDiff({ path: 'p/x.yaml', before, after }, 100);
  t.deepEqual(sides(whole), { before: before.trim().split('\n'), after: after.trim().split('\n') });
  const diff = unifiedDiff({ path: 'p/x.yaml', before, after }, 1);
  t.is(diff, '--- a/p/x.yaml\n+++ b/p/x.yaml\n@@ -1,3 +1,3 @@\n a: 1\n-b: 2\n+b: two\n c: 3\n@@ -5,1 +5,2 @@\n e: 5\n+f: 6\n');
  t.is(unifiedDiff({ path: 'p/x.yaml', before, after: before }), '');
  t.regex(unifiedDiff({ path: 'p/new.yaml', before: undefined, after: 'a: 1\n' }), /^--- \/dev\/null\n\+\+\+ b\/p\/new.yaml\n@@ -0,0 \+1,1 @@\n\+a: 1\n$/);
  t.regex(unifiedDiff({ path: 'p/old.yaml', before: 'a: 1\n', after: undefined }), /^--- a\/p\/old.yaml\n\+\+\+ \/dev\/null\n@@ -1,1 \+0,0 @@\n-a: 1\n$/);
});

test('Secret values are masked: ciphertext and any data', (t) => {
  const secret = 'apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    lifeboat.dev/data-hash: hmac-sha256:ab\n    lifeboat.dev/encrypted-data: |\n      -----BEGIN AGE ENCRYPTED FILE-----\n      YWdl\n      -----END AGE ENCRYPTED FILE-----\n  name: db\ndata:\n  password: c2VjcmV0\ntype: Opaque\n';
  t.is(maskSecretValues(secret), 'apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    lifeboat.dev/data-hash: hmac-sha256:ab\n    lifeboat.dev/encrypted-data: <encrypted>\n  name: db\ndata: <masked>\ntype: Opaque\n');
  const configMap = 'apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n';
  t.is(maskSecretValues(configMap), configMap);
});

test('--object names an object as Kind[.group]/namespace/name', (t) => {
  t.deepEqual(parseObjectArgument('Deployment.apps/shop/web'), { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' });
  t.deepEqual(parseObjectArgument('ConfigMap/shop/settings'), { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'settings' });
  t.deepEqual(parseObjectArgument('Namespace/shop'), { group: '', kind: 'Namespace', name: 'shop' });
  t.throws(() => parseObjectArgument('web'), { message: /expected Kind\[.group\]\/namespace\/name/ });
});
