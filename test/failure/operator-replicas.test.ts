// Two `lifeboat operator` replicas on one namespace of RecoveryPlans, as a Deployment with two pods runs them: the
// same NATS, Redis and mirror (a volume both pods mount; the mirror is one git branch that every plan's writer
// commits to, so it cannot be a disk per pod), the same ServiceAccount. The plans' leases spread over both, each
// plan's status has one writer (the holder of its synchronizer lease), a replica killed -9 during the initial sync is
// taken over by the other, which finishes the sync with nothing lost. Read where a person would look: the lock keys
// in Redis, the RecoveryPlans' status and Events, the objects at the stand-by, the mirror. These tests kill
// processes: `npm test` runs them alone.
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { KubeClient } from '../../src/kube/client.ts';
import { refFromMirrorPath } from '../../src/kube/ref.ts';
import { MirrorRepository } from '../../src/mirror/repository.ts';
import { StateStore } from '../../src/state/state.ts';
import { configMap, createNamespace, eventually, get } from '../helpers/pipeline.ts';
import { operatorCluster, readyOf, type OperatorCluster, type OperatorProcess, type PlanResource } from '../helpers/operator.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
const seconds = (ms: number) => (ms / 1000).toFixed(1);
/** The components that hold a lease per plan (processor replicas share a durable consumer instead). */
const leasedComponents = ['listener', 'mirror', 'synchronizer', 'reconciler'] as const;

type Plan = PlanResource & { metadata: { name: string; resourceVersion: string; managedFields?: { manager: string; operation: string; subresource?: string }[] } };
interface Event { involvedObject: { name: string }; reason: string; type: string; reportingInstance?: string }

/** ManagedClusters on the sandbox's least-privilege contexts, and a RecoveryPlan of one source namespace. */
function manifests(cluster: OperatorCluster, plans: { name: string; namespace: string; extra?: Record<string, unknown> }[]): string {
  const { info, ns } = cluster;
  const clusters = [['source', 'source-reader'], ['destination', 'destination-writer']].map(([name, context]) => ({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name, namespace: ns }, spec: { kubeconfig: { path: info.kubeconfig, context } },
  }));
  const recoveryPlans = plans.map(({ name, namespace, extra }) => ({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name, namespace: ns },
    spec: { source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces: [namespace] }] }, secrets: { mode: 'exclude' }, sync: { commitInterval: '100ms' }, ...extra },
  }));
  return [...clusters, ...recoveryPlans].map((document) => stringify(document)).join('---\n');
}

/** A plan that fails validation: the field named in its InvalidSpec message is spec.transforms[0].jsonPatch[0].path. */
const invalidSpec = { transforms: [{ jsonPatch: [{ op: 'replace', path: 'spec/replicas', value: 1 }] }] };

/** Who holds each plan's lease of `component`: plan → pid (the lock's value is `<hostname>/<pid>/<uuid>`). */
async function holders(redis: Redis, plans: readonly string[], component: string): Promise<Map<string, number | undefined>> {
  const values = await redis.mget(...plans.map((plan) => `lifeboat:${plan}:lock:${component}`));
  return new Map(plans.map((plan, index) => [plan, values[index] ? Number(values[index].split('/')[1]) : undefined]));
}

/** How many ConfigMaps a namespace holds, kube-root-ca.crt left out, from one small page (its remainingItemCount). */
async function countConfigMaps(client: KubeClient, ns: string): Promise<number> {
  const page = await client.request<{ items: { metadata: { name: string } }[]; metadata: { remainingItemCount?: number } }>('GET', cmPath(ns), undefined, { query: { limit: 1 } });
  const rootCa = page.items.some((item) => item.metadata.name === 'kube-root-ca.crt') || Boolean(await get(client, cmPath(ns, 'kube-root-ca.crt')));
  return page.items.length + (page.metadata.remainingItemCount ?? 0) - (rootCa ? 1 : 0);
}

/** `namespace/name` → data (as JSON) of every ConfigMap of the namespaces (kube-root-ca.crt left out). */
async function configMaps(client: KubeClient, namespaces: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const ns of namespaces) {
    for await (const page of client.listPages(cmPath(ns), { group: '', version: 'v1', kind: 'ConfigMap' })) {
      for (const item of page.items as { metadata: { name: string }; data?: Record<string, string> }[]) {
        if (item.metadata.name !== 'kube-root-ca.crt') found.set(`${ns}/${item.metadata.name}`, JSON.stringify(item.data ?? {}));
      }
    }
  }
  return found;
}

/** What differs between two `configMaps` answers, in a line (empty when equal). */
function difference(expected: Map<string, string>, actual: Map<string, string>): string {
  const different = [...expected].filter(([key, data]) => actual.get(key) !== data).map(([key]) => key);
  const extra = [...actual.keys()].filter((key) => !expected.has(key));
  if (different.length === 0 && extra.length === 0) return '';
  return `${different.length} missing or different (${different.slice(0, 5).join(', ')}), ${extra.length} extra (${extra.slice(0, 5).join(', ')})`;
}

/** Every change of a RecoveryPlan's status, as a watch delivers it (each write that changed something is one event). */
interface StatusWrite { at: number; plan: string; resourceVersion: string; status: PlanResource['status'] }

/** Watches the namespace's RecoveryPlans and records every change of a status, until stopped. */
async function recordStatusWrites(client: KubeClient, ns: string): Promise<{ writes: StatusWrite[]; stop: () => void }> {
  const collection = `/apis/lifeboat.dev/v1alpha1/namespaces/${ns}/recoveryplans`;
  const list = await client.request<{ items: Plan[]; metadata: { resourceVersion: string } }>('GET', collection);
  const last = new Map(list.items.map((item) => [item.metadata.name, JSON.stringify(item.status ?? null)]));
  const writes: StatusWrite[] = [];
  const stream: IncomingMessage = await client.stream(collection, { query: { watch: true, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 600 }, timeoutMs: 630_000 });
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (!line.trim()) continue;
      const event = JSON.parse(line) as { type: string; object: Plan };
      if (event.type !== 'ADDED' && event.type !== 'MODIFIED') continue;
      const { name, resourceVersion } = event.object.metadata;
      const status = JSON.stringify(event.object.status ?? null);
      // A plan created (no status yet) is no status write.
      if (last.get(name) === status || (!last.has(name) && !event.object.status)) {
        last.set(name, status);
        continue;
      }
      last.set(name, status);
      writes.push({ at: Date.now(), plan: name, resourceVersion, status: event.object.status });
    }
  });
  stream.on('error', () => undefined);
  return { writes, stop: () => stream.destroy() };
}

/** The Events recorded about the namespace's RecoveryPlans. */
async function planEvents(cluster: OperatorCluster): Promise<Event[]> {
  return (JSON.parse((await cluster.kubectl('get', 'events', '-n', cluster.ns, '-o', 'json')).stdout) as { items: Event[] }).items;
}

/** The pid in an Event's reportingInstance (`<hostname>/<pid>`). */
const reporter = (event: Event) => Number(event.reportingInstance?.split('/').at(-1));

/** Creates `count` ConfigMaps (400 bytes of data each) in each namespace, 16 requests at a time. */
async function fill(source: KubeClient, namespaces: readonly string[], count: number): Promise<void> {
  const work = namespaces.flatMap((ns) => Array.from({ length: count }, (_, index) => ({ ns, index })));
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < work.length) {
      const { ns, index } = work[next++]!;
      await source.request('POST', cmPath(ns), configMap(`cm-${String(index).padStart(4, '0')}`, { ns, index: String(index), payload: `${ns}:${index}:`.padEnd(400, 'x') }));
    }
  }));
}

/**
 * A failed test keeps each operator's log in the test's directory, and shows its last warnings and errors only: few
 * lines, so the assertion's message after them stays in view where a CI log is shown cut in the middle.
 */
function logsOnFailure(t: ExecutionContext, cluster: OperatorCluster, operators: () => OperatorProcess[]): void {
  t.teardown(() => {
    if (t.passed) return;
    for (const operator of operators()) {
      const file = path.join(cluster.dir, `operator-${operator.pid}.log`);
      fs.writeFileSync(file, operator.output());
      const warnings = operator.output().split('\n').filter((line) => /"level":(40|50|60)/.test(line)).slice(-4).map((line) => line.slice(0, 300));
      t.log(`operator pid ${operator.pid}: ${file}; its last warnings and errors:${warnings.length ? `\n${warnings.join('\n')}` : ' none'}`);
    }
  });
}

test.serial('two operator replicas: the plans spread, one status writer per plan; a replica killed -9 during the initial sync is taken over within 15 s and nothing is lost', async (t) => {
  t.timeout(4 * 60_000);
  const cluster = await operatorCluster(t);
  const { info, ns, source, destination, kubectlApply, startOperator, resourceOf } = cluster;
  const redis = new Redis(info.redisUrl);
  const state = await StateStore.connect(info.redisUrl);
  const mirror = await MirrorRepository.open(path.join(cluster.dir, 'mirror.git'));
  t.teardown(async () => {
    redis.disconnect();
    await state.close();
  });

  // Four plans, each of its own source namespace with a few hundred ConfigMaps, made before the plans exist: what
  // the plans start with is an initial sync (a list), not a stream of changes.
  // One apply at a time at the destination (sync.concurrency 1): the initial sync lasts long enough to kill a replica
  // in its middle after the leases have spread.
  const perPlan = 1500;
  const plans = Array.from({ length: 4 }, () => ({ name: uniqueName('rp'), namespace: uniqueName('rps'), extra: { sync: { commitInterval: '100ms', concurrency: 1 } } }));
  const names = plans.map((plan) => plan.name);
  const invalid = { name: uniqueName('rpbad'), namespace: uniqueName('rpsbad') };
  for (const { namespace } of [...plans, invalid]) await createNamespace(source, namespace);
  t.teardown(async () => {
    for (const { namespace } of [...plans, invalid]) {
      for (const client of [source, destination]) await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    }
  });
  const filling = Date.now();
  await fill(source, plans.map((plan) => plan.namespace), perPlan);
  const expected = await configMaps(source, plans.map((plan) => plan.namespace));
  t.is(expected.size, plans.length * perPlan);
  t.log(`${expected.size} ConfigMaps in ${plans.length} source namespaces in ${seconds(Date.now() - filling)} s`);

  // Both replicas up, with no plan yet, and each seen by the other (lease membership is renewed every 2 s): the plans'
  // leases then spread as they arrive, without a first replica taking them all and handing half back.
  await kubectlApply(manifests(cluster, []));
  const [first, second] = [await startOperator([...names, invalid.name]), await startOperator([...names, invalid.name])];
  logsOnFailure(t, cluster, () => [first, second]);
  const pids = [first.pid, second.pid];
  await eventually('both replicas running', () => Promise.all([first, second].map((operator) => operator.output().includes('lifeboat operator running'))), (up) => up.every(Boolean), 60_000);
  await sleep(4000);
  const writes = await recordStatusWrites(destination, ns);
  t.teardown(() => writes.stop());
  await kubectlApply(manifests(cluster, plans));
  const applied = Date.now();

  // The synchronizer holders over time, sampled: a status write is judged against who held the lease then.
  const samples: { at: number; holders: Map<string, number | undefined> }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ at: Date.now(), holders: await holders(redis, names, 'synchronizer') });
      await sleep(250);
    }
  })();
  t.teardown(() => {
    sampling = false;
  });

  // 1. The plans spread: each replica holds the synchronizer lease of some plans, and at most its share (2 of 4).
  const spread = (byPlan: Map<string, number | undefined>) => pids.every((pid) => {
    const held = [...byPlan.values()].filter((holder) => holder === pid).length;
    return held >= 1 && held <= plans.length / 2;
  });
  const settled = await eventually('the synchronizer leases spread across both replicas', () => holders(redis, names, 'synchronizer'), spread, 30_000);
  t.log(`synchronizer leases spread over both replicas ${seconds(Date.now() - applied)} s after the plans were applied`);
  // The other stages start after the synchronizer (the listener last, once the others run).
  const leases = await eventually('every lease of every plan held by a replica', () => Promise.all(leasedComponents.map((component) => holders(redis, names, component))),
    (all) => all.every((byPlan) => [...byPlan.values()].every((pid) => pid !== undefined && pids.includes(pid))), 30_000);
  t.log(`leases held per replica (${pids.join(', ')}) by component: ${leasedComponents.map((component, index) => `${component} ${pids.map((pid) => [...leases[index]!.values()].filter((holder) => holder === pid).length).join('/')}`).join(', ')}`);

  // 2. kill -9 during the initial sync: once objects are arriving at the stand-by in the victim's plans, well before all.
  const victim = first;
  const survivor = second;
  const victimPlans = plans.filter((plan) => settled.get(plan.name) === victim.pid);
  const arrived = async () => {
    let total = 0;
    for (const { namespace } of victimPlans) total += await countConfigMaps(destination, namespace);
    return total;
  };
  const victimTotal = victimPlans.length * perPlan;
  const beforeKill = await eventually('objects arriving at the stand-by', arrived, (count) => count >= victimTotal * 0.01, 90_000);
  t.true(beforeKill < victimTotal * 0.8, `the initial sync was almost over before the kill (${beforeKill} of ${victimTotal}): too few objects for this machine`);
  victim.kill('SIGKILL');
  const killed = Date.now();
  await victim.exited;
  const atKill = await arrived();
  t.log(`killed pid ${victim.pid} (synchronizer of ${victimPlans.length} plans) with ${atKill} of their ${victimTotal} ConfigMaps at the stand-by`);
  t.true(atKill < victimTotal, 'killed during the initial sync');
  for (const { name } of victimPlans) t.not(readyOf(await resourceOf(name))?.status, 'True', `${name} not Ready at the kill`);

  // 3. While it is dead, an invalid plan's status is still written (InvalidSpec, by the survivor).
  await kubectlApply(manifests(cluster, [{ ...invalid, extra: invalidSpec }]));

  // The takeover, measured two ways: the survivor holding the victim's synchronizer leases, and their objects arriving again.
  const [resumedAfter, takenAfter] = await Promise.all([
    eventually('progress in the victim\'s plans', arrived, (count) => count > atKill, 60_000).then(() => Date.now() - killed),
    eventually('the survivor holds the victim\'s synchronizer leases', () => holders(redis, victimPlans.map((plan) => plan.name), 'synchronizer'),
      (byPlan) => [...byPlan.values()].every((pid) => pid === survivor.pid), 60_000).then(() => Date.now() - killed),
  ]);
  const allLeases = await eventually('the survivor holds every lease', async () => (await Promise.all(leasedComponents.map((component) => holders(redis, names, component)))).flatMap((byPlan) => [...byPlan.values()]),
    (all) => all.every((pid) => pid === survivor.pid), 60_000).then(() => Date.now() - killed);
  t.log(`takeover after the kill -9: synchronizer leases of the victim's plans held by the survivor ${seconds(takenAfter)} s, objects arriving again ${seconds(resumedAfter)} s, all ${plans.length * leasedComponents.length} leases ${seconds(allLeases)} s`);
  t.true(takenAfter <= 15_000, `the survivor took the synchronizer leases ${seconds(takenAfter)} s after the kill`);

  const bad = await eventually('InvalidSpec written by the survivor', () => resourceOf(invalid.name), (found) => readyOf(found)?.reason === 'InvalidSpec', 30_000);
  t.like(readyOf(bad), { status: 'False', message: 'spec.transforms[0].jsonPatch[0].path: invalid JSON pointer "spec/replicas": must start with "/" (e.g. /spec/replicas)' });

  // The survivor finishes: every plan Ready (kubectl wait), every source object at the stand-by with its content.
  for (const { name } of plans) await cluster.kubectlWait(name, survivor);
  t.log(`every plan Ready ${seconds(Date.now() - killed)} s after the kill (${seconds(Date.now() - applied)} s after the plans were applied)`);
  let last = '';
  await eventually('the stand-by equal to the source', async () => (last = difference(expected, await configMaps(destination, plans.map((plan) => plan.namespace)))), (diff) => diff === '', 60_000)
    .catch((error: Error) => {
      throw new Error(`${error.message}: ${last}`, { cause: error });
    });
  for (const { name } of plans) {
    const resource = await eventually(`${name} status counts`, () => resourceOf(name), (found) => (found.status?.objects ?? 0) >= perPlan + 1, 30_000);
    t.like(readyOf(resource), { status: 'True', reason: 'Synced' });
    t.is(resource.status?.observedGeneration, resource.metadata.generation);
    t.deepEqual(await state.failures(name), [], `${name}: no object given up on`);
  }
  // Nothing lost in the mirror either: its head holds exactly the source's ConfigMaps, with their data.
  const head = await mirror.head();
  const atHead = new Map<string, string>();
  for (const { name } of plans) {
    for (const [file, oid] of await mirror.files(head, name)) {
      if (!file.includes('/ConfigMap/')) continue;
      const { ref } = refFromMirrorPath(file);
      atHead.set(`${ref.namespace}/${ref.name}`, JSON.stringify((parse(await mirror.readText(oid)) as { data?: Record<string, string> }).data ?? {}));
    }
  }
  t.is(difference(expected, atHead), '', 'the mirror head has exactly the source objects');

  // One status writer per plan. Both replicas write as the same field manager (one managedFields entry for the status
  // subresource, whoever wrote), so the writers are told apart by what they do: one writer writes a plan's status at
  // most every 5 s (two would write closer together, with their own views), and the Ready transitions are recorded
  // as Events by the writer itself (reportingInstance): each plan's initial sync done once, by its synchronizer.
  await sleep(1000);
  sampling = false;
  await sampler;
  writes.stop();
  const holderAt = (plan: string, at: number) => samples.findLast((sample) => sample.at <= at)?.holders.get(plan);
  const handedOver = (plan: string, from: number, to: number) => new Set(samples.filter((sample) => sample.at >= from - 250 && sample.at <= to).map((sample) => sample.holders.get(plan))).size > 1;
  // Until a replica's runner of a plan has built its stages (a fraction of a second after the plan arrives), that
  // replica writes the plan's status too (PlanRunner.writesStatus: "before its stages run, the one that keeps trying
  // to start it"), so both do at the start: those writes, up to 2 s after the synchronizer lease was first taken
  // (a write decided then may land later), are counted and shown, not judged.
  const early: string[] = [];
  for (const { name } of plans) {
    const firstHeld = samples.find((sample) => sample.holders.get(name) !== undefined)?.at ?? Infinity;
    const all = writes.writes.filter((write) => write.plan === name);
    const mine = all.filter((write) => write.at >= firstHeld + 2000);
    early.push(`${name}: ${all.length - mine.length}`);
    const close = mine.slice(1).filter((write, index) => write.at - mine[index]!.at < 4000 && !handedOver(name, mine[index]!.at, write.at));
    t.deepEqual(close.map((write) => `${seconds(write.at - applied)} s (holder ${holderAt(name, write.at)})`), [], `${name}: ${mine.length} status writes; none within 4 s of the previous one while the lease stayed put`);
    const managers = (await resourceOf(name) as Plan).metadata.managedFields?.filter((entry) => entry.subresource === 'status').map((entry) => entry.manager);
    t.deepEqual(managers, ['lifeboat-operator'], `${name}: one status manager`);
  }
  const events = await planEvents(cluster);
  for (const { name } of plans) {
    const done = events.filter((event) => event.involvedObject.name === name && event.reason === 'InitialSyncDone');
    const holder = (await holders(redis, [name], 'synchronizer')).get(name);
    t.deepEqual(done.map(reporter), [holder], `${name}: initial sync done recorded once, by its synchronizer (pid ${holder})`);
  }
  t.deepEqual(events.filter((event) => event.involvedObject.name === invalid.name && event.reason === 'InvalidSpec').map(reporter), [survivor.pid], 'the invalid plan\'s Event by the survivor');
  t.log(`status writes per plan: ${plans.map(({ name }) => writes.writes.filter((write) => write.plan === name).length).join(', ')}; at the start (both replicas may write then): ${early.join(', ')}`);

  survivor.kill('SIGTERM');
  t.is(await Promise.race([survivor.exited, sleep(40_000).then(() => 'still running 40 s after SIGTERM')]), 0);
});

test.serial('two operator replicas: an invalid plan\'s status is written by one replica only', async (t) => {
  t.timeout(2 * 60_000);
  const cluster = await operatorCluster(t);
  const { ns, destination, kubectlApply, startOperator, resourceOf } = cluster;
  const invalid = { name: uniqueName('rpbad'), namespace: uniqueName('rpsbad') };
  await kubectlApply(manifests(cluster, []));
  const [first, second] = [await startOperator([invalid.name]), await startOperator([invalid.name])];
  logsOnFailure(t, cluster, () => [first, second]);
  await eventually('both replicas running', () => Promise.all([first, second].map((operator) => operator.output().includes('lifeboat operator running'))), (up) => up.every(Boolean), 60_000);
  await sleep(3000);
  const writes = await recordStatusWrites(destination, ns);
  t.teardown(() => writes.stop());

  await kubectlApply(manifests(cluster, [{ ...invalid, extra: invalidSpec }]));
  await eventually('InvalidSpec', () => resourceOf(invalid.name), (found) => readyOf(found)?.reason === 'InvalidSpec', 30_000);
  // Long enough for both to have looked several times (each writes on change, looking every second).
  await sleep(8000);
  writes.stop();
  const events = (await planEvents(cluster)).filter((event) => event.involvedObject.name === invalid.name && event.reason === 'InvalidSpec');
  const statusWrites = writes.writes.filter((write) => write.plan === invalid.name);
  t.log(`replicas ${first.pid}, ${second.pid}: ${statusWrites.length} status writes (resourceVersions ${statusWrites.map((write) => write.resourceVersion).join(', ')}), InvalidSpec Events by ${events.map(reporter).join(', ')}`);
  t.is(statusWrites.length, 1, 'the status written once (a second writer rewrites it with its own lastTransitionTime)');
  t.is(new Set(events.map(reporter)).size, 1, 'the InvalidSpec Event recorded by one replica');
});
