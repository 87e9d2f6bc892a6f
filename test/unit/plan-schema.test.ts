// Single-value formats of the schema: image prefixes, age recipients, mirror paths.
import test from 'ava';
import { ageRecipientProblem, imagePrefixProblem, mirrorPathProblem } from '../../src/plan/schema.ts';
import { recipient } from '../fixtures/plans/invalid-cases.ts';

test('image prefixes: registries and repositories, never tags or digests', (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['registry.example.com', undefined],
    ['registry.example.com:5000', undefined],
    ['registry.example.com:5000/team/app', undefined],
    ['docker.io/library', undefined],
    ['nginx', undefined],
    ['localhost:5000', undefined],
    ['nginx:latest', 'image prefix "nginx:latest" must not have a tag: prefixes rewrite registries and repositories, tags are kept'],
    ['registry.example.com/app:1.0', 'image prefix "registry.example.com/app:1.0" must not have a tag: prefixes rewrite registries and repositories, tags are kept'],
    ['registry.example.com/app@sha256:abc', 'image prefix "registry.example.com/app@sha256:abc" must not have a digest: prefixes rewrite registries and repositories, digests are kept'],
    ['oci://registry.example.com', 'image prefix "oci://registry.example.com" must not have a scheme: write the registry host, e.g. "registry.example.com/team"'],
    ['registry.example.com/', undefined],
    ['registry.example.com:5000/team/', undefined],
    ['registry.example.com//team', 'image prefix "registry.example.com//team" has an empty path component: write one "/" between parts, e.g. "registry.example.com/team"'],
    ['registry.example.com/Team', 'invalid image prefix "registry.example.com/Team": repository part "Team" must be lowercase letters, digits and separators (".", "_", "-")'],
    ['-bad', 'invalid image prefix "-bad": "-bad" is neither a registry host nor a repository name'],
    ['', 'must not be empty'],
  ];
  for (const [prefix, problem] of cases) t.is(imagePrefixProblem(prefix), problem, prefix);
});

test('age recipients are checked by age-encryption', (t) => {
  t.is(ageRecipientProblem(recipient), undefined);
  const corrupted = `${recipient.slice(0, -1)}${recipient.endsWith('p') ? 'q' : 'p'}`; // a bad bech32 checksum
  t.is(ageRecipientProblem(corrupted), `invalid age recipient "${corrupted}": expected an age public key (age1...), as printed by age-keygen`);
  t.is(ageRecipientProblem('ssh-ed25519 AAAAC3Nza'), 'invalid age recipient "ssh-ed25519 AAAAC3Nza": expected an age public key (age1...), as printed by age-keygen');
  t.is(ageRecipientProblem('AGE-SECRET-KEY-1XYZ'), 'this is an age identity, a private key: put its public key (age1...) here and keep the identity secret');
});

test('mirror paths are relative directories', (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['shop', undefined], ['eu/shop', undefined], ['team.a/shop_1-x', undefined],
    ['', 'must not be empty'], ['/shop', 'must be relative to the root of the mirror repository'],
    ['eu//shop', 'must not contain empty, "." or ".." parts'], ['eu/../shop', 'must not contain empty, "." or ".." parts'],
    ['eu/shop/', 'must not contain empty, "." or ".." parts'], ['eu shop', 'part "eu shop" may only contain letters, digits, ".", "_" and "-"'],
  ];
  for (const [path, problem] of cases) t.is(mirrorPathProblem(path), problem, path);
});
