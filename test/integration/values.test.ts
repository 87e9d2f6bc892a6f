// Every value arrives exact, end to end on the sandbox: strings that YAML readers take for numbers, booleans or
// dates (a Deployment's UMASK=0o022), characters they fold or refuse (NEL, DEL, U+FFFE), and a custom resource's
// int64 fields beyond 2^53, replicated through the real pipeline and compared byte for byte and digit for digit in
// the destination's own JSON and in the mirror's git blob.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { parse } from 'yaml';
import type { KubeClient } from '../../src/kube/client.ts';
import { mirrorPath, refOf } from '../../src/kube/ref.ts';
import { parseJson, stringifyJson } from '../../src/util/json.ts';
import { uniqueName } from '../helpers/sandbox.ts';
import { createNamespace, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { awkwardStrings, largeIntegers, lookAlikes } from '../helpers/values.ts';

const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
});

/** A response body as the API server sent it, before any JSON parser saw it. */
async function rawText(client: KubeClient, apiPath: string): Promise<string> {
  const response = await client.stream(apiPath, { timeoutMs: 30_000 });
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const strings = [...lookAlikes, ...awkwardStrings];
const keyed = (prefix: string) => Object.fromEntries(strings.map((value, index) => [`${prefix}${index}`, value]));

type Env = { name: string; value: string }[];
type Resource = { spec: Record<string, unknown> };

test('look-alike strings, awkward characters and int64 values beyond 2^53 arrive exact at the stand-by and in the mirror', async (t) => {
  const ns = uniqueName('values');
  const group = `${uniqueName('g')}.example.com`;
  const handle = await pipeline({
    resources: { include: [{ namespaces: [ns] }, { kinds: ['apiextensions.k8s.io/CustomResourceDefinition'], names: [`widgets.${group}`] }] },
    secrets: { mode: 'exclude' },
  });
  handles.push(handle);
  const { source, destination, plan } = handle;
  await source.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `widgets.${group}` },
    spec: { group, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: {
        type: 'object', 'x-kubernetes-preserve-unknown-fields': true,
        properties: { max: { type: 'integer', format: 'int64' }, min: { type: 'integer', format: 'int64' }, next: { type: 'integer', format: 'int64' } },
      } } } } }] },
  });
  await createNamespace(source, ns);
  await eventually('the CRD served in the source', () => get(source, `/apis/${group}/v1`), (v) => v !== undefined);

  const data = keyed('k');
  const env = strings.map((value, index) => ({ name: `E${index}`, value }));
  env.unshift({ name: 'UMASK', value: '0o022' });
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'look-alikes', namespace: ns }, data };
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1', env }] } } },
  };
  const spec = { max: 2n ** 63n - 1n, min: -(2n ** 63n), next: 9007199254740993n, integers: largeIntegers, safe: [2 ** 53 - 1, -7, 0], floats: [0.5, 1e21, 1.25e-7],
    strings: keyed('s'), nested: { list: [{ id: 9007199254740995n, umask: '0o022' }] } };
  const widget = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'big', namespace: ns }, spec };
  // Sent as JSON text: the integers as digits, the characters raw, as a client in any language would send them.
  await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, JSON.stringify(configMap));
  await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, JSON.stringify(deployment));
  await source.request('POST', `/apis/${group}/v1/namespaces/${ns}/widgets`, stringifyJson(widget));
  const sourceWidget = await rawText(source, `/apis/${group}/v1/namespaces/${ns}/widgets/big`);
  for (const digits of ['9223372036854775807', '-9223372036854775808', '9007199254740993', '9007199254740995']) t.true(sourceWidget.includes(digits), `the source holds ${digits}`);

  await handle.start();
  const timeout = 90_000;
  const copiedMap = await eventually('the ConfigMap in the destination', () => get<{ data: Record<string, string> }>(destination, `/api/v1/namespaces/${ns}/configmaps/look-alikes`), (c) => c !== undefined, timeout);
  t.deepEqual(copiedMap?.data, data, 'every ConfigMap value, byte for byte');
  const copiedDeployment = await eventually('the Deployment in the destination', () => get<{ spec: { template: { spec: { containers: { env: Env }[] } } } }>(destination, `/apis/apps/v1/namespaces/${ns}/deployments/web`), (d) => d !== undefined, timeout);
  // The API server drops an empty value (omitempty): the source's env is the reference.
  const sourceEnv = (await get<typeof copiedDeployment>(source, `/apis/apps/v1/namespaces/${ns}/deployments/web`))!.spec.template.spec.containers[0]!.env;
  t.is(sourceEnv.length, env.length);
  t.deepEqual(copiedDeployment?.spec.template.spec.containers[0]!.env, sourceEnv, 'every env value, byte for byte');
  t.deepEqual(copiedDeployment?.spec.template.spec.containers[0]!.env[0], { name: 'UMASK', value: '0o022' });
  await eventually('the Widget in the destination', () => get(destination, `/apis/${group}/v1/namespaces/${ns}/widgets/big`), (w) => w !== undefined, timeout);

  // The destination's own JSON: the integers digit for digit, and the whole spec equal to the source's.
  const destinationWidget = await rawText(destination, `/apis/${group}/v1/namespaces/${ns}/widgets/big`);
  for (const digits of ['"max":9223372036854775807', '"min":-9223372036854775808', '"next":9007199254740993', '"id":9007199254740995', '"umask":"0o022"']) {
    t.true(destinationWidget.includes(digits), `the destination holds ${digits}`);
  }
  t.is(stringifyJson((parseJson(destinationWidget) as Resource).spec), stringifyJson((parseJson(sourceWidget) as Resource).spec), 'the custom resource\'s spec, as the API servers write it, byte for byte');
  t.deepEqual((parseJson(destinationWidget) as Resource).spec, spec);

  // The mirror's blobs read as the same values by a YAML 1.2 reader and a YAML 1.1 one (as kubectl and Go tools are).
  const blob = (object: Parameters<typeof refOf>[0]) => execFileSync('git', [`--git-dir=${handle.mirror.gitdir}`, 'show', `main:${mirrorPath(plan, refOf(object))}`], { encoding: 'utf8' });
  const widgetBlob = blob(widget);
  for (const line of ['max: 9223372036854775807\n', 'min: -9223372036854775808\n', 'next: 9007199254740993\n', '- id: 9007199254740995\n', 'umask: "0o022"\n']) {
    t.true(widgetBlob.includes(line), `the mirror holds ${JSON.stringify(line)}`);
  }
  t.false(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/.test(widgetBlob), 'no character a YAML reader changes is written raw');
  for (const version of ['1.1', '1.2'] as const) {
    t.deepEqual((parse(widgetBlob, { version, intAsBigInt: true }) as Resource).spec.strings, spec.strings, `YAML ${version} reads the mirror's strings`);
    t.deepEqual((parse(blob(configMap), { version }) as { data: unknown }).data, data, `YAML ${version} reads the mirror's ConfigMap`);
    t.deepEqual((parse(blob(deployment), { version }) as typeof deployment).spec.template.spec.containers[0]!.env, sourceEnv, `YAML ${version} reads the mirror's env`);
  }
  t.deepEqual(await handle.state.failures(plan), [], 'nothing failed to apply');
});
