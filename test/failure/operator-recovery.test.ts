// The bad day through the operator: two operator replicas run a plan; the source control plane is stopped; a
// RecoveryExecutionJob is created with kubectl and waited for with `kubectl wait --for=condition=Succeeded`. Exactly
// one replica runs it, the stand-by's Deployments wake, the plan says FailedOver, and a job for a plan that does not
// exist fails with a message. Stops the sandbox's source API server (a failure test: run serially).
import test from 'ava';
import { stringify } from 'yaml';
import { configMap, createNamespace, deployment, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster, readyOf } from '../helpers/operator.ts';
import { startStopped, stopComponent } from '../helpers/processes.ts';
import { uniqueName } from '../helpers/sandbox.ts';

interface JobResource {
  status?: {
    phase?: string; claimedBy?: string; startTime?: string; message?: string; recoverySeconds?: number;
    counts?: Record<string, { activated?: number; failed?: number }>;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

test('a RecoveryExecutionJob created with kubectl recovers with the source down, run once by one of two replicas; a job for an unknown plan fails with a message', async (t) => {
  const { info, ns, source, destination, kubectl, kubectlApply, startOperator, resourceOf, kubectlWait } = await operatorCluster(t);
  const app = uniqueName('rcv');
  await createNamespace(source, app);
  await source.request('POST', `/apis/apps/v1/namespaces/${app}/deployments`, deployment('web', 3));
  await source.request('POST', `/api/v1/namespaces/${app}/configmaps`, configMap('settings', { mode: 'live' }));
  const plan = uniqueName('rcvplan');
  const clusters = [['source', 'source-reader'], ['destination', 'destination-writer']].map(([name, context]) => stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace: ns }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  }));
  await kubectlApply([...clusters, stringify({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: plan, namespace: ns },
    spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [app] }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' },
      transforms: [{ select: { kinds: ['apps/Deployment'] }, deactivate: {} }] },
  })].join('---\n'));
  // A job left Running by a replica that died (its lease long gone): a live replica takes it over and finishes it.
  const jobYaml = (name: string, forPlan: string, dryRun = false) => stringify({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryExecutionJob', metadata: { name, namespace: ns }, spec: { plan: forPlan, dryRun } });
  await kubectlApply(jobYaml('orphan', plan, true));
  const orphanStart = '2026-12-01T00:00:00Z';
  await kubectl('patch', '-n', ns, 'recoveryexecutionjob/orphan', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Running', claimedBy: 'operator/ghost/1', startTime: orphanStart } }));
  const replicas = [await startOperator([plan]), await startOperator([plan])];
  await kubectlWait(plan, replicas[0]!);
  const sleeping = await eventually('the Deployment asleep at the stand-by', () => get<{ spec: { replicas: number } }>(destination, `/apis/apps/v1/namespaces/${app}/deployments/web`), (found) => found?.spec.replicas === 0, 60_000);
  t.is(sleeping?.spec.replicas, 0, 'the stand-by sleeps');

  const jobOf = async (name: string) => (await get<JobResource>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryexecutionjobs/${name}`))!;
  const logs = () => replicas.map((replica) => replica.logTail()).join('\n---\n');

  await kubectl('wait', '-n', ns, '--for=condition=Succeeded', '--timeout=60s', 'recoveryexecutionjob/orphan').catch((error: Error) => t.fail(`${error.message}\n${logs()}`));
  const orphan = await jobOf('orphan');
  t.regex(orphan.status?.claimedBy ?? '', /^operator\/(?!ghost)/, 'a live replica claimed it');
  t.is(orphan.status?.startTime, orphanStart, 'a takeover continues the job: its start time is kept');
  t.true(replicas.some((replica) => replica.output().includes('"takenOverFrom":"operator/ghost/1"')));

  // A job for a plan that does not exist: Failed, Succeeded=False, the reason in its status; no crash.
  await kubectlApply(jobYaml('for-nothing', 'no-such-plan'));
  await kubectl('wait', '-n', ns, '--for=condition=Succeeded=False', '--timeout=60s', 'recoveryexecutionjob/for-nothing').catch((error: Error) => t.fail(`${error.message}\n${logs()}`));
  const unknown = await jobOf('for-nothing');
  t.is(unknown.status?.phase, 'Failed');
  t.is(unknown.status?.message, `RecoveryPlan no-such-plan not found in namespace ${ns}`);

  // The source control plane goes away; the recovery needs only the destination.
  t.teardown(startStopped);
  await stopComponent('source-apiserver');
  const job = 'bad-day';
  await kubectlApply(jobYaml(job, plan));
  await kubectl('wait', '-n', ns, '--for=condition=Succeeded', '--timeout=120s', `recoveryexecutionjob/${job}`).catch((error: Error) => t.fail(`${error.message}\n${logs()}`));
  const done = await jobOf(job);
  t.is(done.status?.phase, 'Succeeded');
  t.regex(done.status?.claimedBy ?? '', /^operator\//);
  t.true((done.status?.recoverySeconds ?? 0) > 0);
  t.like(done.status?.counts?.['apps/Deployment'], { activated: 1 });
  t.like(done.status?.conditions?.find((condition) => condition.type === 'Succeeded'), { status: 'True', reason: 'Recovered' });
  const awake = await get<{ spec: { replicas: number } }>(destination, `/apis/apps/v1/namespaces/${app}/deployments/web`);
  t.is(awake?.spec.replicas, 3, 'the Deployment runs with its source replicas');

  // Run exactly once: one replica claimed and ran it, the other never started it.
  const runs = replicas.filter((replica) => replica.output().split('\n').some((line) => line.includes('running RecoveryExecutionJob') && line.includes(`"job":"${job}"`)));
  t.is(runs.length, 1, `exactly one replica ran the job:\n${logs()}`);
  const metrics = await Promise.all(replicas.map(async (replica) => (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text()));
  t.is(metrics.filter((text) => /^lifeboat_recovery_jobs_total\{result="succeeded"\} 1$/m.test(text)).length, 1, 'one replica counted it');
  t.true(metrics.some((text) => /^lifeboat_recovery_seconds_count 1$/m.test(text)));

  // The plan stops writing to the stand-by and says so; an Event on the job says how it went.
  const failedOver = await eventually('the plan FailedOver', () => resourceOf(plan), (found) => readyOf(found)?.reason === 'FailedOver', 30_000);
  t.like(readyOf(failedOver), { status: 'False', reason: 'FailedOver' });
  t.regex(readyOf(failedOver)?.message ?? '', new RegExp(job));
  const events = JSON.parse((await kubectl('get', 'events', '-n', ns, '-o', 'json')).stdout) as { items: { involvedObject: { kind: string; name: string }; reason: string }[] };
  t.true(events.items.some((event) => event.involvedObject.kind === 'RecoveryExecutionJob' && event.involvedObject.name === job && event.reason === 'Recovered'));
  t.true(events.items.some((event) => event.involvedObject.name === plan && event.reason === 'FailedOver'));
  await startStopped();
  await source.request('GET', '/version');
});
