// `lifeboat history` and `lifeboat diff` on a real mirror written by a real pipeline, as a person runs them.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { configMap, createNamespace, demoRecipient, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
type Entry = { revision: string; created: number; updated: number; deleted: number; applied: string; planRevision: string };

test('history lists each revision with its changes and when it was applied; diff shows YAML with Secret values masked', async (t) => {
  const info = await sandbox();
  const ns = uniqueName('hist');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { recipients: [demoRecipient] } });
  t.teardown(() => handle.close());
  const { source, destination, plan } = handle;
  await handle.start();
  await createNamespace(source, ns);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'good' }));
  await source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'hunter2-plaintext' } });
  await eventually('the Secret at the stand-by', () => get(destination, `/api/v1/namespaces/${ns}/secrets/db`), (s) => s !== undefined);
  const cm = await get<Record<string, unknown>>(source, `/api/v1/namespaces/${ns}/configmaps/settings`);
  await source.request('PUT', `/api/v1/namespaces/${ns}/configmaps/settings`, { ...cm, data: { mode: 'corrupt' } });
  await source.request('PUT', `/api/v1/namespaces/${ns}/secrets/db`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: ns }, stringData: { password: 'hunter3-plaintext' } });
  await eventually('the change at the stand-by', () => get<{ data: Record<string, string> }>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`), (c) => c?.data.mode === 'corrupt');
  await eventually('applied', async () => [await handle.state.getValue(plan, 'applied-head'), await handle.mirror.head()], ([a, b]) => a === b);

  const env = { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl };
  const run = async (...args: string[]) => (await promisify(execFile)(process.execPath, [cli, ...args], { env })).stdout;
  const history = JSON.parse(await run('history', plan, '--mirror', handle.mirror.gitdir, '-o', 'json')) as { revisions: Entry[] };
  const log = (await handle.mirror.log()).filter((commit) => commit.message.includes(`Plan: ${plan}`));
  t.deepEqual(history.revisions.map((entry) => entry.revision), log.map((commit) => commit.oid), 'every revision of the plan, newest first');
  t.true(history.revisions.every((entry) => /^\d{4}-\d\d-\d\dT/.test(entry.applied)), JSON.stringify(history.revisions.map((entry) => entry.applied)));
  t.true(history.revisions.every((entry) => entry.planRevision.startsWith('worktree:')));
  t.is(history.revisions.reduce((sum, entry) => sum + entry.created, 0), 3, 'namespace, ConfigMap, Secret');

  const settings = JSON.parse(await run('history', plan, '--mirror', handle.mirror.gitdir, '--object', `ConfigMap/${ns}/settings`, '-o', 'json')) as { revisions: Entry[] };
  t.is(settings.revisions.length, 2, 'the ConfigMap changed twice');
  t.true(settings.revisions[1]!.created >= 1, 'first: created');
  t.true(settings.revisions[0]!.updated >= 1, 'then: updated');
  const table = await run('history', plan, '--mirror', handle.mirror.gitdir);
  t.regex(table, /REVISION\s+TIME\s+CHANGES\s+APPLIED\s+PLAN REVISION/);

  const diff = await run('diff', plan, settings.revisions[0]!.revision, '--mirror', handle.mirror.gitdir);
  t.regex(diff, new RegExp(`--- a/${plan}/namespaces/${ns}/ConfigMap/settings.yaml\\n\\+\\+\\+ b/${plan}/namespaces/${ns}/ConfigMap/settings.yaml`));
  t.regex(diff, /\n- {2}mode: good\n\+ {2}mode: corrupt\n/);
  const whole = await run('diff', plan, log.at(-1)!.oid, log[0]!.oid, '--mirror', handle.mirror.gitdir);
  t.regex(whole, /lifeboat\.dev\/encrypted-data: <encrypted>/);
  t.false(/BEGIN AGE|hunter[23]/.test(whole), 'no ciphertext and no plaintext in a diff');
});
