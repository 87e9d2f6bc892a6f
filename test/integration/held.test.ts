// A sleeping stand-by does not break itself. The source has an admission webhook (failurePolicy Fail), an
// APIService and a CRD with a conversion webhook, all served by a Deployment that sleeps at the stand-by. Their
// selectors match only objects carrying lifeboat's plan label — at the source nothing does, so they stand in for
// "a webhook whose pods run in production but sleep at the stand-by": applied live at the stand-by, they would
// refuse lifeboat's own applies and the recovery's wake-up, and break discovery. Held, they wait for activation.
import test from 'ava';
import type { KubeClient } from '../../src/kube/client.ts';
import { heldConversionAnnotation, heldLabel, holderName, holdNamespace } from '../../src/pipeline/hold.ts';
import type { PlanRunner } from '../../src/runtime/plan-runner.ts';
import { Restorer } from '../../src/recovery/restorer.ts';
import { CommandState } from '../../src/state/state.ts';
import { silentLogger } from '../../src/util/log.ts';
import { configMap, createNamespace, deployment, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const runner = (handle: PipelineHandle): PlanRunner => handle.runtime.runners.get(handle.plan)!;

function objects(ns: string, plan: string, group: string) {
  const service = { namespace: ns, name: 'hooks', port: 443 };
  const planOnly = { matchLabels: { 'lifeboat.dev/plan': plan } };
  const inNamespace = { matchLabels: { 'kubernetes.io/metadata.name': ns } };
  const webhook = (name: string, resources: string[], apiGroups: string[]) => ({
    name, clientConfig: { service: { ...service, path: `/${name}` } }, failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'],
    timeoutSeconds: 2, objectSelector: planOnly, namespaceSelector: inNamespace,
    rules: [{ apiGroups, apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources }],
  });
  return {
    deployment: deployment('hooks', 2),
    service: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'hooks', namespace: ns }, spec: { selector: { app: 'hooks' }, ports: [{ port: 443, targetPort: 8443 }] } },
    validating: {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: `validate-${ns}` },
      // Matches Deployment updates too: the recovery's wake-up of the backend must happen before this is live.
      webhooks: [webhook(`deployments.${group}`, ['deployments'], ['apps']), webhook(`configmaps.${group}`, ['configmaps'], [''])],
    },
    mutating: {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: `mutate-${ns}` },
      webhooks: [{ ...webhook(`mutate.${group}`, ['configmaps'], ['']), reinvocationPolicy: 'Never' }],
    },
    apiService: {
      apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: `v1beta1.metrics.${group}` },
      spec: { group: `metrics.${group}`, version: 'v1beta1', service, insecureSkipTLSVerify: true, groupPriorityMinimum: 100, versionPriority: 100 },
    },
    crd: {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `widgets.${group}` },
      spec: {
        group, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } },
          { name: 'v1beta1', served: false, storage: false, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } },
        ],
        conversion: { strategy: 'Webhook', webhook: { conversionReviewVersions: ['v1'], clientConfig: { service: { ...service, path: '/convert' } } } },
      },
    },
  };
}

async function create(client: KubeClient, path: string, body: unknown, cleanup: (() => Promise<unknown>)[]): Promise<void> {
  await client.request('POST', path, body);
  const name = (body as { metadata: { name: string } }).metadata.name;
  cleanup.push(() => client.request('DELETE', `${path}/${name}`).catch(() => undefined));
}

test('webhooks, an APIService and a conversion webhook are held at the sleeping stand-by and activated after their backends', async (t) => {
  t.timeout(5 * 60_000);
  const ns = uniqueName('held');
  const group = `${ns}.held.example.com`;
  const plan = uniqueName('p');
  const made = objects(ns, plan, group);
  const handle = await pipeline({
    resources: {
      include: [
        { namespaces: [ns] },
        { kinds: ['admissionregistration.k8s.io/ValidatingWebhookConfiguration', 'admissionregistration.k8s.io/MutatingWebhookConfiguration'], names: [made.validating.metadata.name, made.mutating.metadata.name] },
        { kinds: ['apiregistration.k8s.io/APIService'], names: [made.apiService.metadata.name] },
        { kinds: ['apiextensions.k8s.io/CustomResourceDefinition'], names: [made.crd.metadata.name] },
      ],
    },
    transforms: [{ deactivate: {} }], secrets: { mode: 'exclude' },
  }, { plan });
  const cleanup: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    // Webhooks and the APIService first: with them gone nothing refuses or hangs the rest of the clean-up.
    for (const step of cleanup.reverse()) await step();
    for (const client of [handle.source, handle.destination]) {
      for (const path of [`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${made.validating.metadata.name}`,
        `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${made.mutating.metadata.name}`,
        `/apis/apiregistration.k8s.io/v1/apiservices/${made.apiService.metadata.name}`, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${made.crd.metadata.name}`]) {
        await client.request('DELETE', path).catch(() => undefined);
      }
      await client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    }
    await handle.close();
  });
  const { source, destination } = handle;
  await createNamespace(source, ns);
  await create(source, `/apis/apps/v1/namespaces/${ns}/deployments`, made.deployment, []);
  await create(source, `/api/v1/namespaces/${ns}/services`, made.service, []);
  await create(source, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', made.crd, []);
  await eventually('the CRD established at the source', () => get<{ status?: { conditions?: { type: string; status: string }[] } }>(source, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${made.crd.metadata.name}`),
    (crd) => crd?.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True') ?? false);
  await eventually('the Widget kind served at the source', () => source.request('POST', `/apis/${group}/v1/namespaces/${ns}/widgets`, { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w' }, spec: { size: 3 } }).then(() => true, () => false), Boolean);
  await create(source, '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', made.validating, []);
  await create(source, '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', made.mutating, []);
  await create(source, '/apis/apiregistration.k8s.io/v1/apiservices', made.apiService, []);
  await handle.start();

  // Asleep: the workloads and a ConfigMap the webhooks match arrive (lifeboat's applies carry the plan label).
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'fast' }));
  const settings = await eventually('the ConfigMap at the stand-by', () => get<{ data: Record<string, string> }>(destination, `/api/v1/namespaces/${ns}/configmaps/settings`), Boolean, 60_000);
  t.deepEqual(settings?.data, { mode: 'fast' });
  const holders = await eventually('the three holders', () => destination.request<{ items: { metadata: { name: string }; data: Record<string, string> }[] }>('GET', `/api/v1/namespaces/${holdNamespace}/configmaps`, undefined,
    { query: { labelSelector: `lifeboat.dev/plan=${plan},${heldLabel}=true` } }).then((list) => list.items), (items) => items.length === 3, 60_000);
  t.deepEqual(holders.map((holder) => holder.metadata.name).sort(), [
    holderName(plan, { kind: 'APIService', name: made.apiService.metadata.name }),
    holderName(plan, { kind: 'MutatingWebhookConfiguration', name: made.mutating.metadata.name }),
    holderName(plan, { kind: 'ValidatingWebhookConfiguration', name: made.validating.metadata.name }),
  ].sort());
  const heldWebhook = JSON.parse(holders.find((holder) => holder.metadata.name.includes('validatingwebhook'))!.data['object.json']!) as typeof made.validating;
  const sourceWebhook = await get<typeof made.validating>(source, `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${made.validating.metadata.name}`);
  t.deepEqual(heldWebhook.webhooks, sourceWebhook?.webhooks, 'carried as the source has it');
  t.is(await get(destination, `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${made.validating.metadata.name}`), undefined, 'no live webhook while asleep');
  t.is(await get(destination, `/apis/apiregistration.k8s.io/v1/apiservices/${made.apiService.metadata.name}`), undefined, 'no live APIService while asleep');
  const crd = await eventually('the CRD at the stand-by', () => get<{ metadata: { annotations?: Record<string, string> }; spec: { conversion: unknown } }>(destination, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${made.crd.metadata.name}`), Boolean, 60_000);
  t.deepEqual(crd?.spec.conversion, { strategy: 'None' });
  t.deepEqual(JSON.parse(crd!.metadata.annotations![heldConversionAnnotation]!), made.crd.spec.conversion);
  const widget = await eventually('the Widget at the stand-by', () => get<{ spec: unknown }>(destination, `/apis/${group}/v1/namespaces/${ns}/widgets/w`), Boolean, 60_000);
  t.deepEqual(widget?.spec, { size: 3 });
  // The mirror has them as they are.
  const files = await handle.mirror.files((await handle.mirror.head())!, plan);
  t.true([...files.keys()].some((path) => path.includes('ValidatingWebhookConfiguration')), [...files.keys()].join(', '));
  t.true([...files.keys()].some((path) => path.includes('APIService')));
  // Healthy while asleep: discovery has no failing group, and a reconcile finds nothing to correct.
  const groups = await destination.request<{ groups: { name: string }[] }>('GET', '/apis');
  t.false(groups.groups.some((entry) => entry.name === `metrics.${group}`));
  const report = await runner(handle).reconcile();
  t.false('error' in report.destination, JSON.stringify(report.destination));
  if (!('error' in report.destination)) t.deepEqual([report.destination.drifted, report.destination.missing, report.destination.orphaned], [[], [], []]);

  // Recovery: the backend wakes first (the validating webhook matches Deployment updates, so a webhook applied
  // before the wake-up would refuse it), then the CRD gets its conversion back and the rest is applied.
  await handle.stop();
  const restorer = new Restorer({
    plan, mirrorDir: plan, jobName: `held-${plan}`, destination, repository: undefined, state: new CommandState(),
    identities: [], concurrency: 8, log: silentLogger, timeoutMs: 120_000, backendTimeoutMs: 1000,
  });
  const status = await restorer.run({ dryRun: false });
  t.is(status.phase, 'Succeeded', `${status.message} ${JSON.stringify(status.failures)}`);
  t.is((await get<{ spec: { replicas: number } }>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/hooks`))?.spec.replicas, 2);
  const live = await get<{ webhooks: { name: string; failurePolicy: string }[] }>(destination, `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${made.validating.metadata.name}`);
  t.deepEqual(live?.webhooks.map((webhook) => [webhook.name, webhook.failurePolicy]), made.validating.webhooks.map((webhook) => [webhook.name, 'Fail']));
  t.truthy(await get(destination, `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${made.mutating.metadata.name}`));
  t.truthy(await get(destination, `/apis/apiregistration.k8s.io/v1/apiservices/${made.apiService.metadata.name}`));
  const woken = await get<{ metadata: { annotations?: Record<string, string> }; spec: { conversion: unknown } }>(destination, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${made.crd.metadata.name}`);
  t.deepEqual(woken?.spec.conversion, made.crd.spec.conversion);
  t.is(woken?.metadata.annotations?.[heldConversionAnnotation], undefined);
  const left = await destination.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${holdNamespace}/configmaps`, undefined, { query: { labelSelector: `lifeboat.dev/plan=${plan},${heldLabel}=true` } });
  t.is(left.items.length, 0, 'the holders are gone');
  t.is(status.counts?.['admissionregistration.k8s.io/ValidatingWebhookConfiguration']?.activated, 1);
  t.is(status.counts?.['apiextensions.k8s.io/CustomResourceDefinition']?.activated, 1);
  // And now it is live: a labelled write it matches is refused (its backend never answers in the sandbox).
  await t.throwsAsync(destination.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('after', { x: '1' }, { 'lifeboat.dev/plan': plan })), { message: /webhook/ });
});
