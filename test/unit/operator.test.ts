// The operator's pure parts: a RecoveryPlan's conditions and status from what is known of it (table-style), the
// Events its Ready changes record, and custom resources judged one by one with the plan validate checks.
import test from 'ava';
import { planConditions, planStatus, readyEvent, readyVerdict, type Condition, type PlanObservation } from '../../src/operator/conditions.ts';
import { judgePlans } from '../../src/operator/resources.ts';
import type { KubeObject } from '../../src/kube/ref.ts';
import type { PlanStatus } from '../../src/runtime/status.ts';

const now = '2025-06-01T12:00:00Z';
const earlier = '2025-06-01T11:00:00Z';

function planStatusOf(overrides: Partial<PlanStatus> = {}): PlanStatus {
  return {
    plan: 'shop', planRevision: undefined, mirrorHead: 'a'.repeat(40), appliedHead: 'a'.repeat(40), objectsByKind: { Namespace: 1, ConfigMap: 3 },
    lagSeconds: 0.4321, mirrorWriter: true, holds: ['synchronizer'], kinds: [], initialSync: 'done', lastErrors: [], failing: [], failingObjects: 0,
    stalls: [], heldDeletes: 0, paused: 0, failedOver: undefined, reconcile: undefined, unreachable: undefined, updatedAt: now, ...overrides,
  };
}

const running = (status: PlanStatus | undefined, extra: Partial<Extract<PlanObservation, { type: 'running' }>> = {}): PlanObservation =>
  ({ type: 'running', generation: 3, suspended: false, ready: true, notReadyReason: 'plan shop: ready', status, ...extra });

const cases: Array<[string, PlanObservation, { status: string; reason: string; message: RegExp; others: string[] }]> = [
  ['in sync', running(planStatusOf()), { status: 'True', reason: 'Synced', message: /^applied mirror revision a{12} \(4 objects, lag 0\.43s\)$/, others: [] }],
  ['in sync with failing objects', running(planStatusOf({ failingObjects: 2 })), { status: 'True', reason: 'Synced', message: /2 objects failing: lifeboat status$/, others: [] }],
  ['initial sync', running(planStatusOf(), { ready: false, notReadyReason: 'plan shop: initial sync in progress' }), { status: 'Unknown', reason: 'Syncing', message: /^initial sync in progress$/, others: ['Reconciling'] }],
  ['starting', running(undefined), { status: 'Unknown', reason: 'Syncing', message: /^starting$/, others: ['Reconciling'] }],
  ['invalid', { type: 'invalid', generation: 3, errors: ['spec.transforms[1].jsonPatch[0].path: invalid JSON pointer', 'spec.x: y'] },
    { status: 'False', reason: 'InvalidSpec', message: /^spec\.transforms\[1\]\.jsonPatch\[0\]\.path: invalid JSON pointer; spec\.x: y$/, others: ['Stalled'] }],
  ['secretRef', { type: 'blocked', generation: 3, message: 'ManagedCluster prod uses spec.secretRef' }, { status: 'False', reason: 'ClusterNotReadable', message: /ManagedCluster prod/, others: ['Stalled'] }],
  ['suspended', running(planStatusOf(), { suspended: true }), { status: 'False', reason: 'Suspended', message: /spec\.suspend: true/, others: [] }],
  ['failed over', running(planStatusOf({ failedOver: 'RecoveryExecutionJob/bad-day', heldDeletes: 2 })), { status: 'False', reason: 'FailedOver', message: /^failed over by RecoveryExecutionJob\/bad-day/, others: [] }],
  ['source unreachable', running(planStatusOf({ unreachable: { cluster: 'prod', role: 'source', since: earlier, error: 'ECONNREFUSED' } }), { ready: false }),
    { status: 'False', reason: 'SourceUnreachable', message: /^source cluster prod unreachable since .*: ECONNREFUSED \(retrying\)$/, others: [] }],
  ['destination unreachable', running(planStatusOf({ unreachable: { cluster: 'dr', role: 'destination', since: earlier, error: 'timed out' } })),
    { status: 'False', reason: 'DestinationUnreachable', message: /^destination cluster dr/, others: [] }],
  ['stalled mirror', running(planStatusOf({ stalls: [{ component: 'mirror', summary: 'mirror not writable', error: 'EACCES', since: earlier }] }), { ready: false }),
    { status: 'False', reason: 'Stalled', message: /^mirror not writable since .*: EACCES$/, others: ['Stalled'] }],
  ['drift detected', running(planStatusOf({ reconcile: { at: earlier, sourceChanged: 0, sourceDeleted: 0, drift: 'detect', drifted: [{ object: 'apps/Deployment shop/web', fields: ['spec.replicas'] }], missing: 2, orphaned: 0, corrected: 0 } })),
    { status: 'False', reason: 'DriftDetected', message: /^the stand-by differs from the mirror at the reconcile of .*: 1 changed \(apps\/Deployment shop\/web\), 2 missing; reconcile\.drift: detect/, others: [] }],
  ['drift corrected is no finding', running(planStatusOf({ reconcile: { at: earlier, sourceChanged: 0, sourceDeleted: 0, drift: 'correct', drifted: [{ object: 'x', fields: [] }], missing: 0, orphaned: 0, corrected: 1 } })),
    { status: 'True', reason: 'Synced', message: /^applied/, others: [] }],
  ['deletes held', running(planStatusOf({ heldDeletes: 1 })), { status: 'False', reason: 'DeletesHeld', message: /^1 delete held by the delete guard: lifeboat deletes list shop$/, others: [] }],
];

for (const [name, observation, expected] of cases) {
  test(`Ready: ${name}`, (t) => {
    const conditions = planConditions(observation, [], now);
    t.like(conditions[0], { type: 'Ready', status: expected.status, reason: expected.reason, observedGeneration: 3, lastTransitionTime: now });
    t.regex(conditions[0]!.message, expected.message);
    // Reconciling and Stalled are there only while True (kstatus' abnormal-true conditions).
    t.deepEqual(conditions.slice(1).map((condition) => [condition.type, condition.status]), expected.others.map((type) => [type, 'True']));
  });
}

test('lastTransitionTime is kept while a condition keeps its status, and moves when it changes', (t) => {
  const previous: Condition[] = [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'old', lastTransitionTime: earlier, observedGeneration: 2 }];
  t.is(planConditions(running(planStatusOf()), previous, now)[0]!.lastTransitionTime, earlier);
  t.is(planConditions(running(planStatusOf({ heldDeletes: 3 })), previous, now)[0]!.lastTransitionTime, now);
});

test('status fields: revisions, lag rounded, object count, held deletes; lastSyncTime moves only with a new applied revision', (t) => {
  const status = planStatus(running(planStatusOf({ heldDeletes: 2 })), undefined, now);
  t.like(status, { observedGeneration: 3, mirrorRevision: 'a'.repeat(40), appliedRevision: 'a'.repeat(40), lagSeconds: 0.43, objects: 4, heldDeletes: 2, lastSyncTime: now });
  const same = planStatus(running(planStatusOf()), { appliedRevision: 'a'.repeat(40), lastSyncTime: earlier }, now);
  t.is(same.lastSyncTime, earlier);
  const invalid = planStatus({ type: 'invalid', generation: 4, errors: ['spec: x'] }, { appliedRevision: 'a'.repeat(40), objects: 9 }, now);
  t.deepEqual(Object.keys(invalid).sort(), ['conditions', 'observedGeneration'], 'an invalid plan reports no pipeline figures');
  t.false('lagSeconds' in planStatus(running(planStatusOf({ lagSeconds: undefined })), undefined, now));
});

test('verdicts follow the order of what matters: invalid, suspended, failed over, unreachable, stalled, held, syncing', (t) => {
  t.is(readyVerdict(running(planStatusOf({ failedOver: 'job', unreachable: { cluster: 'x', role: 'source', since: now, error: 'e' } }))).reason, 'FailedOver');
  t.is(readyVerdict(running(planStatusOf({ heldDeletes: 4 }), { ready: false })).reason, 'DeletesHeld');
  t.is(readyVerdict(running(planStatusOf({ failedOver: 'job' }), { suspended: true })).reason, 'Suspended');
});

test('Events: the first Synced is the initial sync, the others name their reason; progress records none', (t) => {
  const ready = (status: Condition['status'], reason: string, message = 'm'): Condition[] => [{ type: 'Ready', status, reason, message, lastTransitionTime: now, observedGeneration: 1 }];
  t.like(readyEvent(ready('Unknown', 'Syncing'), ready('True', 'Synced', 'applied x'), false), { type: 'Normal', reason: 'InitialSyncDone', message: 'initial sync done: applied x' });
  t.like(readyEvent(ready('False', 'DeletesHeld'), ready('True', 'Synced'), true), { type: 'Normal', reason: 'Synced', message: 'in sync again: m' });
  t.like(readyEvent(ready('False', 'DeletesHeld'), ready('True', 'Synced'), false), { reason: 'InitialSyncDone' }, 'first Ready after held deletes were approved');
  t.like(readyEvent([], ready('False', 'InvalidSpec', 'spec.x: y'), false), { type: 'Warning', reason: 'InvalidSpec', message: 'spec.x: y' });
  t.like(readyEvent(ready('True', 'Synced'), ready('False', 'DeletesHeld'), true), { type: 'Warning', reason: 'DeletesHeld' });
  t.is(readyEvent(ready('True', 'Synced', 'a'), ready('True', 'Synced', 'b'), true), undefined, 'a new message alone is no state change');
  t.is(readyEvent([], ready('Unknown', 'Syncing'), false), undefined);
});

test('the initial sync is recorded once: Ready, then Syncing again (a listener relisting after a lease moved), then Ready is "in sync again"', (t) => {
  // The status as the operator writes it, one observation after another, each from the status it wrote before.
  const observations = [running(undefined), running(planStatusOf()), running(planStatusOf(), { ready: false }), running(planStatusOf()),
    { type: 'invalid', generation: 4, errors: ['spec: x'] } as PlanObservation, running(planStatusOf())];
  let status: ReturnType<typeof planStatus> | undefined;
  const events: string[] = [];
  const times = observations.map((_, index) => `2026-12-07T00:00:0${index}Z`);
  for (const [index, observation] of observations.entries()) {
    const next = planStatus(observation, status, times[index]!);
    const event = readyEvent(status?.conditions ?? [], next.conditions, status?.initialSyncTime !== undefined);
    if (event) events.push(event.reason);
    status = next;
  }
  t.deepEqual(events, ['InitialSyncDone', 'Synced', 'InvalidSpec', 'Synced']);
  t.is(status!.initialSyncTime, times[1], 'initialSyncTime: when it was first Ready, kept through Syncing and an invalid spec');
});

// ---------------------------------------------------------------------------------------------------------------
// Resources judged one by one

const resource = (kind: string, name: string, spec: unknown, created = '2025-01-01T00:00:00Z', generation = 1): KubeObject => ({
  apiVersion: 'lifeboat.dev/v1alpha1', kind, spec, status: { observedGeneration: 1, conditions: [] },
  metadata: { name, namespace: 'lifeboat-system', uid: `uid-${name}`, resourceVersion: '7', generation, creationTimestamp: created, managedFields: [], annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } } as KubeObject['metadata'],
});
const clusters = [
  resource('ManagedCluster', 'source', { kubeconfig: { path: '/etc/lifeboat/source.kubeconfig', context: 'reader' } }),
  resource('ManagedCluster', 'destination', { kubeconfig: { path: 'dr.kubeconfig' } }),
  resource('ManagedCluster', 'vault', { secretRef: { name: 'vault-kubeconfig' } }),
  resource('ManagedCluster', 'broken', { kubeconfig: { path: 'https://example.com/kubeconfig' } }),
];
const here = { namespace: 'lifeboat-system', secrets: new Map<string, KubeObject>(), baseDir: '/work' };
const planSpec = (namespaces: string[], extra: Record<string, unknown> = {}) => ({
  source: { cluster: 'source' }, destination: { cluster: 'destination' }, resources: { include: [{ namespaces }] }, secrets: { mode: 'exclude' }, ...extra,
});

test('each plan is judged on its own: the valid ones run, an invalid one names its field, a secretRef cluster blocks only its plans', (t) => {
  const judged = judgePlans([
    resource('RecoveryPlan', 'shop', planSpec(['shop-*']), '2025-01-01T00:00:00Z', 4),
    resource('RecoveryPlan', 'typo', planSpec(['web'], { transforms: [{ labels: { set: { a: 'b' } } }, { jsonPatch: [{ op: 'replace', path: 'spec/replicas', value: 1 }] }] })),
    resource('RecoveryPlan', 'nowhere', { ...planSpec(['api']), destination: { cluster: 'dr-west' } }),
    resource('RecoveryPlan', 'vaulted', { ...planSpec(['vault']), source: { cluster: 'vault' } }),
    resource('RecoveryPlan', 'via-broken', { ...planSpec(['b']), source: { cluster: 'broken' } }),
  ], clusters, here);
  const shop = judged.get('shop');
  t.is(shop?.generation, 4);
  t.is(shop?.verdict.type, 'run');
  if (shop?.verdict.type === 'run') {
    t.deepEqual(shop.verdict.context.source, { name: 'source', kubeconfig: '/etc/lifeboat/source.kubeconfig', context: 'reader' });
    t.deepEqual(shop.verdict.context.destination, { name: 'destination', kubeconfig: '/work/dr.kubeconfig', context: undefined }, 'relative paths are relative to the working directory');
    t.is(shop.verdict.context.plan.spec.mirror.path, 'shop');
  }
  t.deepEqual(judged.get('typo')?.verdict, { type: 'invalid', errors: ['spec.transforms[1].jsonPatch[0].path: invalid JSON pointer "spec/replicas": must start with "/" (e.g. /spec/replicas)'] });
  t.deepEqual(judged.get('nowhere')?.verdict, { type: 'invalid', errors: ['spec.destination.cluster: unknown cluster "dr-west" (known: broken, destination, source, vault)'] });
  t.like(judged.get('vaulted')?.verdict, { type: 'blocked' });
  t.is((judged.get('vaulted')?.verdict as { message: string }).message, 'ManagedCluster vault: Secret vault-kubeconfig (spec.secretRef.name) not found in namespace lifeboat-system; create it with the kubeconfig under key kubeconfig');
  t.like(judged.get('via-broken')?.verdict, { type: 'invalid' });
  t.regex((judged.get('via-broken')?.verdict as { errors: string[] }).errors[0]!, /^ManagedCluster broken: spec\.kubeconfig\.path: .*a file path, not a URL/);
});

test('overlapping plans: the older one runs, the newer one is invalid; the key changes with the spec only', (t) => {
  const older = resource('RecoveryPlan', 'zeta', planSpec(['shop']), '2025-01-01T00:00:00Z');
  const newer = resource('RecoveryPlan', 'alpha', planSpec(['shop']), '2025-02-01T00:00:00Z');
  const judged = judgePlans([newer, older], clusters, here);
  t.is(judged.get('zeta')?.verdict.type, 'run');
  t.regex((judged.get('alpha')?.verdict as { errors: string[] }).errors[0]!, /^spec\.resources\.include\[0\]: overlaps plan "zeta"/);
  const key = (judgedPlans: ReturnType<typeof judgePlans>) => (judgedPlans.get('zeta')?.verdict as { key: string }).key;
  const relabelled = { ...older, metadata: { ...older.metadata, labels: { team: 'a' }, resourceVersion: '9' } };
  t.is(key(judgePlans([relabelled], clusters, here)), key(judged), 'metadata and status do not restart a plan');
  t.not(key(judgePlans([{ ...older, spec: planSpec(['shop', 'web']) }], clusters, here)), key(judged));
});

test('a secretRef cluster: its kubeconfig comes from the Secret as data, the key changes with a hash of it (never the data), a missing key or a foreign namespace blocks', (t) => {
  const kubeconfig = 'apiVersion: v1\nkind: Config\nusers: [{ name: reader, user: { token: s3cr3t-token } }]\n';
  const secret = (data: Record<string, string>, name = 'vault-kubeconfig') => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'lifeboat-system' }, data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')])) }) as KubeObject;
  const plan = resource('RecoveryPlan', 'vaulted', { ...planSpec(['vault']), source: { cluster: 'vault' } });
  const judge = (secrets: KubeObject[], cluster = clusters) => judgePlans([plan], cluster, { ...here, secrets: new Map(secrets.map((object) => [object.metadata.name!, object])) }).get('vaulted')!.verdict;
  const verdict = judge([secret({ kubeconfig })]);
  t.is(verdict.type, 'run');
  if (verdict.type !== 'run') return;
  t.deepEqual(verdict.context.source, { name: 'vault', kubeconfig: 'Secret lifeboat-system/vault-kubeconfig, key kubeconfig', context: undefined, kubeconfigData: kubeconfig });
  t.false(verdict.key.includes('s3cr3t-token'), 'the restart key holds a hash, not the kubeconfig');
  t.regex(verdict.key, /"kubeconfigSha256":"[0-9a-f]{64}"/);
  const rotated = judge([secret({ kubeconfig: kubeconfig.replace('s3cr3t-token', 'n3w-token') })]);
  t.not((rotated as { key: string }).key, verdict.key, 'rotated credentials restart the plan');
  t.is((judge([secret({ kubeconfig }), secret({ other: 'x' }, 'unrelated')]) as { key: string }).key, verdict.key, 'another Secret changes nothing');
  t.deepEqual(judge([secret({ config: kubeconfig, ca: 'x' })]), { type: 'blocked', message: 'ManagedCluster vault: Secret vault-kubeconfig in namespace lifeboat-system has no key kubeconfig (spec.secretRef.key; its keys: config, ca)' });
  const keyed = clusters.map((cluster) => (cluster.metadata.name === 'vault' ? resource('ManagedCluster', 'vault', { secretRef: { name: 'vault-kubeconfig', key: 'config' } }) : cluster));
  t.like(judge([secret({ config: kubeconfig })], keyed), { type: 'run' });
  const foreign = clusters.map((cluster) => (cluster.metadata.name === 'vault' ? resource('ManagedCluster', 'vault', { secretRef: { name: 'vault-kubeconfig', namespace: 'elsewhere' } }) : cluster));
  t.regex((judge([secret({ kubeconfig })], foreign) as { message: string }).message, /Secret vault-kubeconfig in namespace elsewhere; the operator reads Secrets of its own namespace \(lifeboat-system\) only/);
});
