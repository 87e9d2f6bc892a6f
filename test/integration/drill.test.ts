// `lifeboat drill` on the sandbox: an activated copy of the plan comes up in scratch namespaces of the stand-by
// (Secrets decrypted, workloads awake), the sleeping stand-by is untouched, the copies are invisible to the plan,
// and the scratch namespaces go away.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { configMap, createNamespace, demoIdentityFile, demoRecipient, deployment, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
type Obj = { metadata: { labels?: Record<string, string>; deletionTimestamp?: string }; spec?: { replicas?: number }; data?: Record<string, string> };
type Report = { id: string; objects: number; applied: number; activated: number; failed: unknown[]; seconds: number; namespaces: Record<string, string>; cleanup: string };

test('a drill brings up an activated copy beside the stand-by, reports, and cleans up', async (t) => {
  const ns = uniqueName('drill');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }], secrets: { recipients: [demoRecipient] } });
  t.teardown(() => handle.close());
  const { source, destination, plan } = handle;
  await createNamespace(source, ns);
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'good' }));
  await source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'drill-s3cret' } });
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web', 3));
  await handle.start();
  await eventually('the stand-by asleep', () => get<Obj>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`), (d) => d?.spec?.replicas === 0);

  const args = ['drill', plan, '--plans', handle.plansDir, '--mirror', handle.mirror.gitdir, '--identity', demoIdentityFile, '-o', 'json'];
  const kept = JSON.parse((await promisify(execFile)(process.execPath, [cli, ...args, '--keep'])).stdout) as Report;
  t.is(kept.objects, 3);
  t.is(kept.applied, 3);
  t.is(kept.activated, 1);
  t.deepEqual(kept.failed, []);
  t.true(kept.seconds > 0);
  const scratch = kept.namespaces[ns]!;
  t.is(scratch, `drill-${kept.id}-${ns}`);
  const copy = await get<Obj>(destination, `/apis/apps/v1/namespaces/${scratch}/deployments/web`);
  t.is(copy?.spec?.replicas, 3, 'the copy is awake');
  t.is(copy?.metadata.labels?.['lifeboat.dev/drill'], kept.id);
  t.is(copy?.metadata.labels?.['lifeboat.dev/plan'], undefined, 'invisible to the plan');
  const secret = await get<Obj>(destination, `/api/v1/namespaces/${scratch}/secrets/db`);
  t.is(Buffer.from(secret!.data!.password!, 'base64').toString(), 'drill-s3cret');
  t.is((await get<Obj>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`))?.spec?.replicas, 0, 'the stand-by still sleeps');
  const report = await handle.runtime.runners.get(plan)!.reconcile();
  if ('error' in report.destination) return t.fail(report.destination.error);
  t.deepEqual([report.destination.drifted, report.destination.orphaned], [[], []], 'the plan does not see the copies');
  await destination.request('DELETE', `/api/v1/namespaces/${scratch}`);

  // A RecoveryExecutionJob written by a person (as with kubectl apply) is run as written, once.
  const recoverArgs = ['recover', plan, '--plans', handle.plansDir, '--mirror', handle.mirror.gitdir, '--name', `by-hand-${plan}`];
  const first = await promisify(execFile)(process.execPath, [cli, ...recoverArgs, '--dry-run']);
  t.regex(first.stdout, /Succeeded/);
  const job = { apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryExecutionJob', metadata: { name: `rehearsal-${plan}`, namespace: 'lifeboat-system' }, spec: { plan, dryRun: true } };
  await destination.request('POST', '/apis/lifeboat.dev/v1alpha1/namespaces/lifeboat-system/recoveryexecutionjobs', job);
  const ran = await promisify(execFile)(process.execPath, [cli, 'recover', plan, '--plans', handle.plansDir, '--name', `rehearsal-${plan}`]);
  t.regex(ran.stdout, /rehearsal-.*: Succeeded .*\ndry run: 0 restored, 1 activated, 0 failed \(nothing changed\)/);
  t.is((await get<Obj>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`))?.spec?.replicas, 0, 'the job said dry run');
  const again = await promisify(execFile)(process.execPath, [cli, 'recover', plan, '--plans', handle.plansDir, '--name', `rehearsal-${plan}`]).catch((error: { stderr: string }) => error);
  t.regex((again as { stderr: string }).stderr, /already ran \(phase Succeeded\); give another --name/);

  const cleaned = JSON.parse((await promisify(execFile)(process.execPath, [cli, ...args])).stdout) as Report;
  t.is(cleaned.applied, 3);
  t.is(cleaned.cleanup, 'deleted');
  await eventually('the scratch namespace removed', () => get<Obj>(destination, `/api/v1/namespaces/${cleaned.namespaces[ns]}`), (namespace) => namespace === undefined || namespace.metadata.deletionTimestamp !== undefined);
});
