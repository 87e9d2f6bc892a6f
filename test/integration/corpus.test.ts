// The corpus: four realistic applications (a GitOps controller, a certificate manager, a monitoring stack and an
// application with claims, autoscalers, budgets, CronJobs and Ingresses), each installed at the source, replicated,
// compared with the stand-by object by object (every field after normalization, the documented stand-by
// differences expected exactly), checked asleep and healthy, recovered, and compared again.
//
// The stand-by rule for admission: webhook configurations and aggregated APIServices are held while the stand-by
// sleeps (in the mirror, and in a holder ConfigMap in lifeboat-system, but not applied), and conversion webhooks of
// CRDs are replaced by `None` (kept in an annotation); recovery applies them, after the workloads are woken.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/client.ts';
import { ResourceIndex } from '../../src/kube/discovery.ts';
import { describeRef, mirrorPath, parseApiVersion, refKey, type KubeObject, type UnversionedRef } from '../../src/kube/ref.ts';
import { parseYaml } from '../../src/util/yaml.ts';
import { certificateManager } from '../fixtures/corpus/certmanager.ts';
import { gitopsController } from '../fixtures/corpus/gitops.ts';
import { monitoringStack } from '../fixtures/corpus/monitoring.ts';
import type { CorpusApp } from '../fixtures/corpus/schema.ts';
import { webApplication } from '../fixtures/corpus/webapp.ts';
import { comparable, compareObject, compareWithStandby, heldLabel, type Hold, holderNamespace, identityOf, planObjects, type StandbyState } from '../helpers/compare.ts';
import { demoIdentityFile, demoRecipient, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;
const KiB = 1024;

const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
});

const allObjects = (app: CorpusApp) => [...app.crds, ...app.objects, ...app.admission];

/** The plan's `recovery.hold`, as the test plans write it (every kind defaults to held). */
type PlanHold = Hold & { admissionWebhooks?: boolean; apiServices?: boolean };

/** Held while the stand-by sleeps: admission webhook configurations and aggregated APIServices (spec.service). */
function isHeld(object: KubeObject, hold: PlanHold = {}): boolean {
  const group = parseApiVersion(object.apiVersion).group;
  if (group === 'admissionregistration.k8s.io') return hold.admissionWebhooks !== false && (object.kind === 'ValidatingWebhookConfiguration' || object.kind === 'MutatingWebhookConfiguration');
  return hold.apiServices !== false && group === 'apiregistration.k8s.io' && object.kind === 'APIService' && (object.spec as { service?: unknown } | undefined)?.service !== undefined;
}

/** The plan's selection: the app's namespaces, and its cluster-scoped objects by kind and name. */
function selectorsOf(app: CorpusApp): Record<string, unknown>[] {
  const byKind = new Map<string, string[]>();
  for (const object of allObjects(app)) {
    if (object.metadata.namespace !== undefined || object.kind === 'Namespace') continue;
    const { group } = parseApiVersion(object.apiVersion);
    const kind = group === '' ? object.kind : `${group}/${object.kind}`;
    byKind.set(kind, [...(byKind.get(kind) ?? []), object.metadata.name ?? '']);
  }
  return [{ namespaces: app.namespaces }, ...[...byKind].map(([kind, names]) => ({ kinds: [kind], names }))];
}

async function create(client: KubeClient, index: ResourceIndex, object: KubeObject, query: Record<string, string> = {}): Promise<void> {
  const ref = identityOf(object);
  const path = index.path({ ...ref, version: parseApiVersion(object.apiVersion).version }, { namespace: ref.namespace });
  await client.request('POST', path, object, { query });
}

/** Installs the app at the source as a person would: CRDs (until served), then the rest, admission last. */
async function install(source: KubeClient, app: CorpusApp): Promise<void> {
  let index = await ResourceIndex.discover(source);
  for (const crd of app.crds) await create(source, index, crd);
  const served = (crd: KubeObject) => `${(crd.spec as { group: string }).group}/${(crd.spec as { names: { kind: string } }).names.kind}`;
  index = await eventually('the CRDs served at the source', () => ResourceIndex.discover(source),
    (found) => app.crds.every((crd) => found.byKind((crd.spec as { group: string }).group, (crd.spec as { names: { kind: string } }).names.kind)), 60_000)
    .catch((error: Error) => { throw new Error(`${error.message}; waiting for ${app.crds.map(served).join(', ')}`); });
  for (const object of [...app.objects, ...app.admission]) await create(source, index, object);
}

/**
 * Removes what the app put in either cluster: admission first (an unavailable APIService stalls namespace deletion),
 * kinds a cluster does not serve skipped. The sandbox runs no pvc-protection controller, so the claims' finalizer is
 * released here, or their namespaces would stay Terminating for good.
 */
async function uninstall(clients: KubeClient[], app: CorpusApp): Promise<void> {
  const order = [...app.admission, ...app.crds, ...app.objects.filter((object) => object.metadata.namespace === undefined && object.kind !== 'Namespace'), ...app.objects.filter((object) => object.kind === 'Namespace')];
  await Promise.all(clients.map(async (client) => {
    const index = await ResourceIndex.discover(client).catch(() => undefined);
    if (!index) return;
    for (const object of order) {
      let path: string;
      try {
        path = index.objectPath(identityOf(object));
      } catch {
        continue;
      }
      await client.request('DELETE', path, undefined, { retry: false }).catch(() => undefined);
    }
    for (const ns of app.namespaces) {
      const claims = await client.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${ns}/persistentvolumeclaims`, undefined, { retry: false }).catch(() => ({ items: [] }));
      for (const claim of claims.items) {
        await client.request('PATCH', `/api/v1/namespaces/${ns}/persistentvolumeclaims/${claim.metadata.name}`, { metadata: { finalizers: null } }, { contentType: 'application/merge-patch+json', retry: false }).catch(() => undefined);
      }
    }
  }));
}

/** Every group version the cluster lists answers discovery (no failing aggregated API), preferred or not. */
async function failingGroupVersions(client: KubeClient): Promise<string[]> {
  const listed = async () => {
    const groups = await client.request<{ groups: { versions: { groupVersion: string }[] }[] }>('GET', '/apis');
    return ['v1', ...groups.groups.flatMap((group) => group.versions.map((version) => version.groupVersion))];
  };
  const failing = async (groupVersions: string[]) => new Map((await Promise.all(groupVersions.map(async (groupVersion) => {
    try {
      await client.request('GET', groupVersion === 'v1' ? '/api/v1' : `/apis/${groupVersion}`, undefined, { retry: false });
      return [];
    } catch (error) {
      return [[groupVersion, (error as Error).message] as const];
    }
  }))).flat());
  let failed = await failing(await listed());
  // Other tests run at the same time on this stand-by and delete their definitions: a group version whose definition
  // went away meanwhile answers 404 until discovery stops listing it. What fails for 5 s while still listed is broken.
  for (let attempt = 0; failed.size > 0 && attempt < 10; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const still = new Set(await listed());
    failed = await failing([...failed.keys()].filter((groupVersion) => still.has(groupVersion)));
  }
  return [...failed].map(([groupVersion, message]) => `${groupVersion}: ${message}`).sort();
}

/** A namespace created and deleted at the stand-by is gone within a minute (nothing stalls namespace deletion). */
async function throwawayNamespaceSeconds(client: KubeClient): Promise<number> {
  const name = uniqueName('throwaway');
  const started = Date.now();
  await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await client.request('DELETE', `/api/v1/namespaces/${name}`);
  await eventually(`the throwaway namespace ${name} deleted at the stand-by`, () => get(client, `/api/v1/namespaces/${name}`), (namespace) => namespace === undefined, 60_000);
  return (Date.now() - started) / 1000;
}

/** Polls the comparison until the stand-by equals the source (an empty list); fails with every difference otherwise. */
async function converged(t: ExecutionContext, clusters: { source: KubeClient; standby: KubeClient }, refs: UnversionedRef[], state: StandbyState, timeoutMs: number, hold?: Hold): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let found: string[];
  do {
    found = await compareWithStandby(clusters, refs, state, hold).catch((error: Error) => [`the comparison failed: ${error.message}`]);
    if (found.length === 0) return found;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } while (Date.now() < deadline);
  t.log(`${found.length} differences ${state}, after ${timeoutMs / 1000} s:\n${found.join('\n')}`);
  return found;
}

/** Objects at the stand-by with the plan's label beyond `expected`: each must exist at the source too (and is compared). */
async function otherPlanObjects(standby: KubeClient, plan: string, expected: Set<string>): Promise<UnversionedRef[]> {
  return (await planObjects(standby, plan)).filter((ref) => !expected.has(refKey(ref))
    // lifeboat's own objects (RecoveryExecutionJobs) and the holders are checked separately.
    && ref.group !== 'lifeboat.dev' && !(ref.kind === 'ConfigMap' && ref.namespace === holderNamespace));
}

interface Holder {
  name: string;
  object: KubeObject;
}

async function holders(standby: KubeClient, plan: string): Promise<Holder[]> {
  const list = await standby.request<{ items: { metadata: { name: string }; data?: Record<string, string> }[] }>('GET', `/api/v1/namespaces/${holderNamespace}/configmaps`, undefined, { query: { labelSelector: `lifeboat.dev/plan=${plan},${heldLabel}=true` } })
    .catch((error: unknown) => {
      if (error instanceof KubeError && error.code === 404) return { items: [] };
      throw error;
    });
  return list.items.map((item) => ({ name: item.metadata.name, object: JSON.parse(item.data?.['object.json'] ?? 'null') as KubeObject }));
}

async function replicateAndRecover(t: ExecutionContext, app: CorpusApp, hold?: PlanHold): Promise<void> {
  t.timeout(12 * 60_000);
  const held = app.admission.filter((object) => isHeld(object, hold));
  const handle = await pipeline({
    resources: { include: selectorsOf(app) },
    transforms: [{ deactivate: {} }],
    secrets: { recipients: [demoRecipient] },
    // The sandbox has no kubelet: the held objects' backends never get ready endpoints, so activation waits 1 s.
    ...(app.admission.length > 0 ? { recovery: { backendTimeout: '1s', ...(hold ? { hold } : {}) } } : {}),
  });
  handles.push(handle);
  const { source, destination: standby, plan } = handle;
  t.teardown(() => uninstall([source, standby], app));

  const installStarted = Date.now();
  await install(source, app);
  const installSeconds = (Date.now() - installStarted) / 1000;
  const sourceIndex = await ResourceIndex.discover(source);
  const sizes = await Promise.all(allObjects(app).map(async (object) => ({ ref: identityOf(object), bytes: Buffer.byteLength(JSON.stringify(await source.request('GET', sourceIndex.objectPath(identityOf(object))))) })));
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  t.log(`${app.title}: installed at the source in ${installSeconds.toFixed(1)} s, ${sizes.length} objects, ${(sizes.reduce((sum, size) => sum + size.bytes, 0) / KiB).toFixed(0)} KiB; largest ${describeRef(largest.ref)} (${(largest.bytes / KiB).toFixed(0)} KiB)`);

  const refs = allObjects(app).map(identityOf);
  const applied = allObjects(app).filter((object) => !isHeld(object, hold)).map(identityOf);
  const clusters = { source, standby };

  // Replication: every object the stand-by gets is equal to the source's, exactly (asleep).
  const started = Date.now();
  await handle.start();
  t.deepEqual(await converged(t, clusters, applied, 'asleep', 5 * 60_000, hold), [], 'every object at the stand-by equals the source (asleep)');
  const replicationSeconds = (Date.now() - started) / 1000;
  t.log(`${app.title}: replicated in ${replicationSeconds.toFixed(1)} s`);

  // Nothing else of the plan at the stand-by but objects the source has too (e.g. a StatefulSet's claims), equal too.
  const others = await otherPlanObjects(standby, plan, new Set(applied.map(refKey)));
  t.deepEqual(await compareWithStandby(clusters, others, 'asleep', hold), [], `the stand-by's other plan objects (${others.map(describeRef).join(', ') || 'none'}) are the source's`);

  // Held: in the mirror, in a holder ConfigMap each (the object as the mirror has it), not at the stand-by.
  const head = await handle.mirror.head();
  const files = await handle.mirror.files(head, plan);
  const standbyIndex = await ResourceIndex.discover(standby);
  const found = await holders(standby, plan);
  t.deepEqual(found.map((holder) => refKey(identityOf(holder.object))).sort(), held.map((object) => refKey(identityOf(object))).sort(), 'one holder ConfigMap per held object');
  for (const object of held) {
    const ref = identityOf(object);
    const oid = files.get(mirrorPath(plan, ref));
    t.truthy(oid, `${describeRef(ref)} is in the mirror`);
    const holder = found.find((candidate) => refKey(identityOf(candidate.object)) === refKey(ref));
    // The holder keeps the object ready to apply: as the mirror has it, plus lifeboat's plan label and revision.
    if (oid && holder) t.deepEqual(comparable(holder.object), comparable(parseYaml(await handle.mirror.readText(oid)) as KubeObject), `${describeRef(ref)}: the holder ${holder.name} has the object as the mirror has it`);
    t.is(await get(standby, standbyIndex.objectPath(ref)), undefined, `${describeRef(ref)} is not applied while the stand-by sleeps`);
  }

  // Asleep and healthy: discovery clean, namespaces delete, the app's webhooks do not refuse writes.
  t.deepEqual(await failingGroupVersions(standby), [], 'every group version answers discovery at the stand-by');
  for (const ns of app.namespaces) t.is((await get<{ metadata: { deletionTimestamp?: string } }>(standby, `/api/v1/namespaces/${ns}`))?.metadata.deletionTimestamp, undefined, `namespace ${ns} is not being deleted`);
  const throwaway = await throwawayNamespaceSeconds(standby);
  for (const probe of app.probes) {
    const index = await ResourceIndex.discover(standby);
    await t.notThrowsAsync(create(standby, index, probe, { dryRun: 'All' }), `${describeRef(identityOf(probe))} can be written at the sleeping stand-by (the app's webhooks are held)`);
  }

  // Recovery (production gone: the pipeline stopped), then the stand-by equals the source, awake, held objects applied.
  const stopping = Date.now();
  await handle.stop();
  t.log(`${app.title}: pipeline stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
  const info = await sandbox();
  const recoveryStarted = Date.now();
  const run = await promisify(execFile)(process.execPath, [cli, 'recover', plan, '--plans', handle.plansDir, '--mirror', handle.mirror.gitdir, '--identity', demoIdentityFile, '--name', `recover-${plan}`, '-o', 'json'],
    { env: { ...process.env, LIFEBOAT_REDIS_URL: info.redisUrl } }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`lifeboat recover failed: ${error.stderr || error.message}\n${error.stdout ?? ''}`);
  });
  const status = JSON.parse(run.stdout) as { phase: string; failures: unknown[]; recoverySeconds: number };
  t.is(status.phase, 'Succeeded');
  t.deepEqual(status.failures, []);
  t.deepEqual(await converged(t, clusters, refs, 'awake', 60_000), [], 'every object at the stand-by equals the source (awake), held ones applied');
  const recoverySeconds = (Date.now() - recoveryStarted) / 1000;
  t.deepEqual(await holders(standby, plan), [], 'the holder ConfigMaps are deleted at activation');
  const othersAwake = await otherPlanObjects(standby, plan, new Set(refs.map(refKey)));
  t.deepEqual(await compareWithStandby(clusters, othersAwake, 'awake'), [], 'the other plan objects are the source\'s, awake');
  t.log(`${app.title}: stand-by healthy asleep (throwaway namespace deleted in ${throwaway.toFixed(1)} s); recovered in ${recoverySeconds.toFixed(1)} s (restorer: ${status.recoverySeconds} s)`);
}

test('the comparison names every difference with its path, and expects the sleeping stand-by\'s differences exactly', (t) => {
  const source = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', uid: 'a', resourceVersion: '1', labels: { app: 'web' } }, spec: { replicas: 3, template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } } }, status: { replicas: 3 } };
  const asleep = { ...source, metadata: { name: 'web', namespace: 'shop', uid: 'b', labels: { app: 'web', 'lifeboat.dev/plan': 'p' }, annotations: { 'lifeboat.dev/deactivated': 'true', 'lifeboat.dev/replicas': '3', 'lifeboat.dev/revision': 'abc' } }, spec: { ...source.spec, replicas: 0 } };
  t.deepEqual(compareObject(source, asleep, 'asleep'), []);
  const awake = compareObject(source, asleep, 'awake');
  t.deepEqual(awake, [
    'Deployment.apps shop/web: spec.replicas: source 3, stand-by 0',
    'Deployment.apps shop/web: metadata.annotations["lifeboat.dev/deactivated"]: source "not \\"true\\" after recovery", stand-by "true"',
  ]);
  const wrongCount = { ...asleep, metadata: { ...asleep.metadata, annotations: { ...asleep.metadata.annotations, 'lifeboat.dev/replicas': '2' } } };
  t.deepEqual(compareObject(source, wrongCount, 'asleep'), ['Deployment.apps shop/web: metadata.annotations["lifeboat.dev/replicas"]: expected "3", stand-by "2"']);
  const changed = { ...asleep, spec: { ...asleep.spec, template: { spec: { containers: [{ name: 'web', image: 'web:2' }, { name: 'sidecar', image: 'proxy' }] } } } };
  t.deepEqual(compareObject(source, changed, 'asleep'), [
    'Deployment.apps shop/web: spec.template.spec.containers[0].image: expected "web:1", stand-by "web:2"',
    'Deployment.apps shop/web: spec.template.spec.containers.length: expected 1, stand-by 2',
  ]);
});

const corpus: [string, (prefix: string) => CorpusApp][] = [
  ['gitops', gitopsController],
  ['webapp', webApplication],
  ['certs', certificateManager],
  ['monitoring', monitoringStack],
];

for (const [prefix, make] of corpus) {
  const app = make(uniqueName(prefix));
  test(`corpus: ${app.title} replicates whole, sleeps healthy and recovers, every object equal to the source`, (t) => replicateAndRecover(t, app));
}

// A plan may keep a kind unheld: here conversion webhooks stay on their CRD while the stand-by sleeps (reading the
// stored version needs no conversion), and the admission webhooks are still held.
test('corpus: a certificate manager whose plan does not hold conversion webhooks keeps them asleep, and recovers', (t) =>
  replicateAndRecover(t, certificateManager(uniqueName('certs-keep')), { conversionWebhooks: false }));

// Sizes the issue asks of the corpus, checked on the generated objects themselves.
test('the corpus has a CRD over 300 KB and dashboards of about 900 KB', (t) => {
  const gitops = gitopsController('size-check');
  const largestCrd = Math.max(...gitops.crds.map((crd) => Buffer.byteLength(JSON.stringify(crd))));
  t.true(largestCrd > 300 * KiB, `largest CRD ${largestCrd} bytes`);
  const dashboards = monitoringStack('size-check').objects.find((object) => object.metadata.name === 'grafana-dashboards') as unknown as { data: Record<string, string> };
  const bytes = Object.values(dashboards.data).reduce((sum, value) => sum + Buffer.byteLength(value), 0);
  t.true(bytes > 850 * KiB && bytes <= 900 * KiB, `dashboards ${bytes} bytes`);
});
