// The console's API against a real pipeline on the sandbox (API servers, NATS, Redis, the git mirror): what a page
// reads (overview, plan, history, diff with Secret values masked, live events) and what a person does with the token
// (approve or reject held deletes, a recovery's preview and the recovery itself); without the token, nothing.
import test from 'ava';
import type * as Api from '../../src/console/api.ts';
import { serveConsole, type ConsoleServer } from '../../src/console/server.ts';
import { silentLogger } from '../../src/util/log.ts';
import { configMap, createNamespace, demoRecipient, deployment, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { consoleHarness } from '../helpers/console.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const harness = consoleHarness();
const { consoleFor } = harness;
test.after.always(() => harness.close());

async function call<T>(server: ConsoleServer, route: string, init: { method?: string; body?: unknown; token?: string | null } = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const token = init.token === undefined ? server.token : init.token;
  const response = await fetch(new URL(route, server.url), {
    method: init.method ?? 'GET',
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
}

const planOf = (overview: Api.Overview, name: string) => overview.plans.find((plan) => plan.name === name);

test('the overview shows the plan Ready with its objects and last commit; the plan page, history and a diff with Secret values masked', async (t) => {
  const ns = uniqueName('con');
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [ns] }] } });
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'blue' }));
  const secretValue = `hunter2-${uniqueName('v')}`;
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: secretValue } });
  await eventually('the Secret at the stand-by', () => get(handle.destination, `/api/v1/namespaces/${ns}/secrets/db`), Boolean, 60_000);

  // Ready and caught up (a change in flight has a lag of a second or so until the stand-by applies it).
  const overview = await eventually('the plan Ready and caught up in the overview', async () => (await call<Api.Overview>(server, '/api/overview', { token: null })).body,
    (body) => planOf(body, handle.plan)?.ready.status === 'True' && (planOf(body, handle.plan)?.objects ?? 0) >= 3 && planOf(body, handle.plan)?.lagSeconds === 0, 60_000);
  const plan = planOf(overview, handle.plan)!;
  t.is(overview.mode, 'run');
  t.is(plan.ready.reason, 'Synced');
  t.is(plan.lastCommit?.revision, await handle.mirror.head());
  t.is(plan.lagSeconds, 0, 'caught up: the RPO is 0');
  t.is(plan.objectsByKind.Secret, 1);
  t.true(plan.lagHistory.length >= 1, 'the lag history has a sample');

  const detail = await call<Api.PlanDetail>(server, `/api/plans/${handle.plan}`, { token: null });
  t.is(detail.status, 200);
  t.is(detail.body.destination, 'destination');
  t.deepEqual(detail.body.errors, []);

  const history = await call<Api.Revision[]>(server, `/api/plans/${handle.plan}/history`, { token: null });
  t.true(history.body.length >= 1);
  t.is(history.body[0]!.revision, (await handle.mirror.head())!);
  t.not(history.body[0]!.applied, 'pending');
  const withSecret = history.body.find((revision) => revision.changes.some((line) => line.includes('Secret')))!;
  t.truthy(withSecret, 'a revision lists the Secret it created');

  const diff = await call<Api.Diff>(server, `/api/plans/${handle.plan}/diff?to=${withSecret.revision}`, { token: null });
  t.is(diff.status, 200);
  const secretFile = diff.body.files.find((file) => file.path.includes('/Secret/'));
  t.truthy(secretFile);
  t.is(secretFile!.change, 'created');
  const everything = JSON.stringify([detail.body, history.body, diff.body]);
  t.false(everything.includes(secretValue), 'the Secret value is not in any answer');
  t.false(everything.includes(Buffer.from(secretValue).toString('base64')), 'nor its base64');

  const bad = await call<Api.ApiError>(server, `/api/plans/${handle.plan}/diff?to=nosuchrevision`, { token: null });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /unknown revision "nosuchrevision"/);
  t.is((await call<Api.ApiError>(server, '/api/plans/no-such-plan', { token: null })).status, 404);

  // The page and every answer carry the strict policy.
  const page = await fetch(server.url);
  t.regex(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  t.is(page.headers.get('x-content-type-options'), 'nosniff');
  t.regex(detail.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
});

test('live updates: one event stream gets the overview at once and again when a plan changes', async (t) => {
  const ns = uniqueName('sse');
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [ns] }] } });
  await createNamespace(handle.source, ns);
  const controller = new AbortController();
  const response = await fetch(new URL('/api/events', server.url), { signal: controller.signal });
  t.is(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  const nextOverview = async (until: (overview: Api.Overview) => boolean): Promise<Api.Overview> => {
    for (;;) {
      const events = buffered.split('\n\n');
      buffered = events.pop() ?? '';
      for (const event of events) {
        const data = /^event: overview\ndata: (.*)$/m.exec(event);
        if (data && until(JSON.parse(data[1]!) as Api.Overview)) return JSON.parse(data[1]!) as Api.Overview;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffered += value;
    }
  };
  try {
    const first = await nextOverview((overview) => Boolean(planOf(overview, handle.plan)));
    const before = planOf(first, handle.plan)!.objects;
    await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('pushed', { a: '1' }));
    const after = await nextOverview((overview) => (planOf(overview, handle.plan)?.objects ?? 0) > before);
    t.true(planOf(after, handle.plan)!.objects > before, 'the new ConfigMap arrives as an event');
  } finally {
    controller.abort();
  }
});

test('without the token every action is refused (401) and nothing changes; with it, held deletes are approved or rejected', async (t) => {
  const [doomed, kept] = [uniqueName('doomed'), uniqueName('kept')];
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [doomed, kept] }] }, secrets: { mode: 'exclude' } });
  const { source, destination, plan, state } = handle;
  for (const ns of [doomed, kept]) {
    await createNamespace(source, ns);
    await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('cm', { n: ns }));
  }
  await eventually('both namespaces at the stand-by', async () => Boolean(await get(destination, `/api/v1/namespaces/${doomed}/configmaps/cm`)) && Boolean(await get(destination, `/api/v1/namespaces/${kept}/configmaps/cm`)), Boolean, 60_000);
  for (const ns of [doomed, kept]) await source.request('DELETE', `/api/v1/namespaces/${ns}`);
  const held = await eventually('both namespaces held', async () => (await call<Api.HeldDeleteEntry[]>(server, `/api/plans/${plan}/deletes`, { token: null })).body,
    (entries) => entries.filter((entry) => entry.summary.startsWith('Namespace ')).length === 2, 90_000);
  t.true(held.some((entry) => entry.summary === `Namespace ${doomed}` && /being deleted in the source/.test(entry.reason)));

  for (const [route, body] of [['deletes/approve', { all: true }], ['deletes/reject', { all: true }], ['recover', { dryRun: false, confirm: plan }], ['drill', {}]] as const) {
    const refused = await call<Api.ApiError>(server, `/api/plans/${plan}/${route}`, { method: 'POST', body, token: null });
    t.is(refused.status, 401, route);
    t.regex(refused.body.error, /missing bearer token/);
    const wrong = await call<Api.ApiError>(server, `/api/plans/${plan}/${route}`, { method: 'POST', body, token: 'not-the-token' });
    t.is(wrong.status, 401, route);
    t.regex(wrong.body.error, /wrong console token/);
  }
  t.is((await call(server, '/api/session', { method: 'POST', body: {}, token: null })).status, 401);
  t.is((await call(server, '/api/session', { method: 'POST', body: {} })).status, 204);
  t.is((await state.heldDeletes(plan)).length, held.length, 'nothing was decided');
  t.is(await state.getValue(plan, 'failover'), undefined, 'nothing was recovered');

  const pathsOf = (ns: string) => held.filter((entry) => entry.path.includes(`/${ns}/`) || entry.path.endsWith(`/${ns}.yaml`)).map((entry) => entry.path);
  const rejected = await call<Api.DecisionResult>(server, `/api/plans/${plan}/deletes/reject`, { method: 'POST', body: { paths: pathsOf(kept) } });
  t.is(rejected.status, 200);
  t.is(rejected.body.decided, pathsOf(kept).length);
  const approved = await call<Api.DecisionResult>(server, `/api/plans/${plan}/deletes/approve`, { method: 'POST', body: { paths: pathsOf(doomed) } });
  t.is(approved.status, 200);
  t.regex(approved.body.message, /approved 2 deletes/);
  await eventually('the approved namespace gone from the stand-by', () => get(destination, `/api/v1/namespaces/${doomed}`), (ns) => ns === undefined, 90_000);
  t.truthy(await get(destination, `/api/v1/namespaces/${kept}/configmaps/cm`), 'the rejected namespace stays');
  t.deepEqual((await call<Api.HeldDeleteEntry[]>(server, `/api/plans/${plan}/deletes`, { token: null })).body, []);
  const again = await call<Api.ApiError>(server, `/api/plans/${plan}/deletes/approve`, { method: 'POST', body: { paths: pathsOf(doomed) } });
  t.is(again.status, 409, 'a decision about deletes no longer held is refused');
});

test('recover: the preview counts what would be activated, a recovery without the typed plan name is refused, then it wakes the Deployments with progress and RTO', async (t) => {
  const ns = uniqueName('wake');
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }] });
  const { source, destination, plan, state } = handle;
  await createNamespace(source, ns);
  for (const name of ['web', 'api']) await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment(name, 3));
  await eventually('two sleeping Deployments at the stand-by', async () => (await get<{ items: { spec: { replicas: number } }[] }>(destination, `/apis/apps/v1/namespaces/${ns}/deployments`))?.items ?? [],
    (items) => items.length === 2 && items.every((item) => item.spec.replicas === 0), 60_000);

  const preview = await call<Api.RecoverPreview>(server, `/api/plans/${plan}/recover`, { method: 'POST', body: { dryRun: true } });
  t.is(preview.status, 200);
  t.true(preview.body.dryRun);
  t.is(preview.body.counts['apps/Deployment']?.activated, 2, JSON.stringify(preview.body.counts));
  t.is(await state.getValue(plan, 'failover'), undefined, 'a preview fails nothing over');

  const unconfirmed = await call<Api.ApiError>(server, `/api/plans/${plan}/recover`, { method: 'POST', body: { dryRun: false, confirm: 'wrong' } });
  t.is(unconfirmed.status, 400);
  t.regex(unconfirmed.body.error, new RegExp(`type the plan's name \\(${plan}\\)`));

  const started = await call<Api.JobStarted>(server, `/api/plans/${plan}/recover`, { method: 'POST', body: { dryRun: false, confirm: plan } });
  t.is(started.status, 200);
  const progress = await eventually('the job finished', async () => (await call<Api.JobProgress>(server, `/api/jobs/${started.body.job}`, { token: null })).body,
    (job) => job.phase === 'Succeeded' || job.phase === 'Failed', 90_000);
  t.is(progress.phase, 'Succeeded', progress.message);
  t.is(progress.counts['apps/Deployment']?.activated, 2);
  t.true((progress.recoverySeconds ?? -1) >= 0);
  t.log(`recovered from the console in ${progress.recoverySeconds?.toFixed(2)} s (measured RTO)`);
  const deployments = await get<{ items: { spec: { replicas: number } }[] }>(destination, `/apis/apps/v1/namespaces/${ns}/deployments`);
  t.deepEqual(deployments?.items.map((item) => item.spec.replicas), [3, 3], 'awake with their replicas');
  // The same RecoveryExecutionJob kubectl shows.
  const job = await get<{ spec: { plan: string }; status: { phase: string } }>(destination, `/apis/lifeboat.dev/v1alpha1/namespaces/lifeboat-system/recoveryexecutionjobs/${started.body.job}`);
  t.is(job?.spec.plan, plan);
  t.is(job?.status.phase, 'Succeeded');
  t.is(await state.getValue(plan, 'failover'), started.body.job);
});

test('a console without a token (the operator without its Secret) is read-only and says how to give it one', async (t) => {
  const handle = await pipeline({ secrets: { recipients: [demoRecipient] } });
  harness.handles.push(handle);
  const server = await serveConsole({
    addr: '127.0.0.1:0', token: null, noTokenHint: 'create the Secret lifeboat-console', mode: 'operator', state: handle.state, mirror: handle.mirror,
    identities: [], log: silentLogger, connectBus: async () => handle.bus, plans: () => new Map(),
  });
  harness.servers.push(server);
  t.is(server.token, undefined);
  const refused = await call<Api.ApiError>(server, '/api/session', { method: 'POST', body: {}, token: 'anything' });
  t.is(refused.status, 401);
  t.is(refused.body.error, 'this console is read-only: it has no token (create the Secret lifeboat-console)');
  t.is((await call<Api.Overview>(server, '/api/overview', { token: null })).body.mode, 'operator');
});
