// The console in a real browser (Debian's chromium driven by playwright-core) against a real pipeline on the
// sandbox: a plan becoming Ready on the overview, held deletes approved and rejected with the buttons, a recovery's
// dry run and the real one, actions refused without the token, and the first paint with 50 plans. Each page's
// screenshot is written to docs/ (the README shows them).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MirrorRepository } from '../../src/mirror/repository.ts';
import { serveConsole, type ConsoleServer } from '../../src/console/server.ts';
import { StateStore } from '../../src/state/state.ts';
import { silentLogger } from '../../src/util/log.ts';
import { configMap, createNamespace, deployment, eventually, get } from '../helpers/pipeline.ts';
import { consoleHarness } from '../helpers/console.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const docs = new URL('../../docs/', import.meta.url).pathname;
const harness = consoleHarness();
const { consoleFor } = harness;
let browser: Browser | undefined;
test.before(async () => {
  browser = await chromium.launch({ executablePath: process.env.LIFEBOAT_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
});
test.after.always(async () => {
  await browser?.close();
  await harness.close();
});

/** A page with a console tab; `token` typed into the token field (as a person pastes it), or none: read-only. */
async function open(server: ConsoleServer, route: string, token?: string): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1360, height: 860 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    // The browser logs every refused request; the 401s of the read-only test are what it expects.
    if (message.type() === 'error' && !/status of 401/.test(message.text())) problems.push(`${message.text()} (${message.location().url})`);
  });
  (page as Page & { problems: string[] }).problems = problems;
  await page.goto(new URL(route, server.url).toString());
  if (token) {
    await page.getByLabel('console token').fill(token);
    await page.getByRole('button', { name: 'Enable actions' }).click();
    await page.getByText('Actions enabled').waitFor();
  }
  return page;
}
const problemsOf = (page: Page) => (page as Page & { problems: string[] }).problems;
const shot = async (page: Page, name: string) => {
  fs.mkdirSync(docs, { recursive: true });
  await page.screenshot({ path: path.join(docs, name), fullPage: false });
};

test('the overview shows a plan becoming Ready, live; the plan page shows its timeline and a diff with Secret values masked', async (t) => {
  const ns = uniqueName('web');
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [ns] }] } });
  const page = await open(server, '/');
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('settings', { mode: 'blue' }));
  const secretValue = `hunter2-${uniqueName('v')}`;
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: secretValue } });
  const row = page.locator(`tr[data-plan="${handle.plan}"]`);
  await row.locator('[data-ready="True"]').waitFor({ timeout: 60_000 });
  await eventually('three objects on the row', () => row.locator('[data-field="objects"]').textContent(), (text) => Number(text) >= 3, 60_000);
  t.regex((await row.textContent()) ?? '', /Ready · Synced/);
  t.is(await page.getByTestId('live').textContent(), 'live');
  await shot(page, 'console-overview.png');

  await row.getByRole('link', { name: handle.plan }).click();
  const timeline = page.getByTestId('timeline');
  await timeline.locator('tbody tr').first().waitFor();
  const head = await handle.mirror.head();
  t.is(await timeline.locator('tbody tr').first().getAttribute('data-revision'), head ?? null, 'newest revision first');
  const withSecret = timeline.locator('tbody tr', { hasText: 'Secret' }).first();
  await withSecret.locator('button.link').click();
  const diff = page.getByTestId('diff');
  await diff.waitFor();
  t.regex((await diff.textContent()) ?? '', /Secret\/db\.yaml/);
  t.regex((await diff.textContent()) ?? '', /<encrypted>/);
  t.false((await page.content()).includes(secretValue), 'no Secret value in the page');
  await shot(page, 'console-plan.png');
  t.deepEqual(problemsOf(page), [], 'no script errors (the Content-Security-Policy allows everything the page needs)');
  await page.close();
});

test('held deletes: without the token Approve is refused (401) and says why; with it, Reject keeps a namespace and Approve removes one from the stand-by', async (t) => {
  const [doomed, kept] = [uniqueName('doomed'), uniqueName('kept')];
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [doomed, kept] }] }, secrets: { mode: 'exclude' } });
  const { source, destination, plan } = handle;
  for (const ns of [doomed, kept]) {
    await createNamespace(source, ns);
    await source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('cm', { n: ns }));
  }
  await eventually('both namespaces at the stand-by', async () => Boolean(await get(destination, `/api/v1/namespaces/${doomed}/configmaps/cm`)) && Boolean(await get(destination, `/api/v1/namespaces/${kept}/configmaps/cm`)), Boolean, 60_000);
  for (const ns of [doomed, kept]) await source.request('DELETE', `/api/v1/namespaces/${ns}`);

  const readOnly = await open(server, `/#/plans/${plan}/deletes`);
  const held = readOnly.getByTestId('held');
  await eventually('both namespaces held on the page', async () => (await held.isVisible()) ? await held.locator('tbody tr td:nth-child(2)', { hasText: /^Namespace / }).count() : 0, (count) => count === 2, 90_000);
  const heldBefore = (await handle.state.heldDeletes(plan)).length;
  const [refused] = await Promise.all([
    readOnly.waitForResponse((response) => response.url().endsWith('/deletes/approve')),
    readOnly.locator('[data-action="approve-all"]').click(),
  ]);
  t.is(refused.status(), 401);
  t.regex((await readOnly.getByRole('alert').first().textContent()) ?? '', /Refused \(401\): missing bearer token/);
  t.is((await handle.state.heldDeletes(plan)).length, heldBefore, 'nothing was decided');
  await readOnly.close();

  const page = await open(server, `/#/plans/${plan}/deletes`, server.token);
  await page.getByTestId('held').locator('tbody tr').first().waitFor();
  await shot(page, 'console-deletes.png');
  // A namespace's held deletes: its objects and the Namespace itself.
  const rowsOf = (ns: string) => page.locator(`[data-testid="held"] tbody tr[data-path*="/${ns}/"], [data-testid="held"] tbody tr[data-path$="/${ns}.yaml"]`);
  const select = async (ns: string) => {
    const rows = rowsOf(ns);
    for (let index = 0; index < (await rows.count()); index++) await rows.nth(index).getByRole('checkbox').check();
  };
  await select(kept);
  await page.locator('[data-action="reject-selected"]').click();
  await page.getByRole('status').filter({ hasText: /rejected/ }).waitFor();
  await eventually('the rejected ones gone from the list', () => rowsOf(kept).count(), (count) => count === 0, 30_000);
  await select(doomed);
  await page.locator('[data-action="approve-selected"]').click();
  await page.getByRole('status').filter({ hasText: /approved 2 deletes/ }).waitFor();
  await eventually('the approved namespace gone from the stand-by', () => get(destination, `/api/v1/namespaces/${doomed}`), (ns) => ns === undefined, 90_000);
  t.truthy(await get(destination, `/api/v1/namespaces/${kept}/configmaps/cm`), 'the rejected namespace stays');
  await page.getByTestId('no-deletes').waitFor({ timeout: 30_000 });
  t.deepEqual(problemsOf(page), []);
  await page.close();
});

test('recover: the dry run shows the Deployments it would wake, the typed plan name enables Recover, and progress ends with the RTO and the Deployments awake', async (t) => {
  const ns = uniqueName('wake');
  const { handle, server } = await consoleFor({ resources: { include: [{ namespaces: [ns] }] }, transforms: [{ deactivate: {} }] });
  const { source, destination, plan } = handle;
  await createNamespace(source, ns);
  for (const name of ['web', 'api']) await source.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment(name, 3));
  await eventually('two sleeping Deployments at the stand-by', async () => (await get<{ items: { spec: { replicas: number } }[] }>(destination, `/apis/apps/v1/namespaces/${ns}/deployments`))?.items ?? [],
    (items) => items.length === 2 && items.every((item) => item.spec.replicas === 0), 60_000);

  const page = await open(server, `/#/plans/${plan}/recover`, server.token);
  await page.locator('[data-action="preview"]').click();
  const preview = page.getByTestId('counts');
  await preview.waitFor();
  t.is(await preview.locator('tr[data-kind="apps/Deployment"] [data-column="activated"]').textContent(), '2');
  const recover = page.locator('[data-action="recover"]');
  t.true(await recover.isDisabled(), 'Recover waits for the plan name');
  await page.getByLabel('confirm plan name').fill(plan);
  await shot(page, 'console-recover.png');
  await recover.click();
  await page.locator('[data-field="phase"]', { hasText: /Succeeded|Failed/ }).waitFor({ timeout: 90_000 });
  t.is(await page.locator('[data-field="phase"]').textContent(), 'Succeeded');
  const rto = await page.locator('[data-field="rto"]').textContent();
  t.regex(rto ?? '', /^\d+(\.\d)? s$/);
  t.log(`RTO shown by the console: ${rto}`);
  const deployments = await get<{ items: { spec: { replicas: number } }[] }>(destination, `/apis/apps/v1/namespaces/${ns}/deployments`);
  t.deepEqual(deployments?.items.map((item) => item.spec.replicas), [3, 3], 'awake with their replicas');
  t.deepEqual(problemsOf(page), []);
  await page.close();
});

// Serial: it runs first, alone, so that the other tests' pipelines do not share the two cores with its timing.
test.serial('first paint of the overview with 50 plans is under 1 s', async (t) => {
  // 50 plans' statuses and an hour of lag samples each, as runners write them, in a Redis database of their own.
  const info = await sandbox();
  const state = await StateStore.connect(`${info.redisUrl.replace(/\/\d*$/, '')}/9`);
  t.teardown(() => state.close());
  const names = Array.from({ length: 50 }, (_, index) => `perf-${String(index).padStart(2, '0')}`);
  const now = Date.now();
  for (const [index, name] of names.entries()) {
    await state.savePlanStatus(name, {
      plan: name, planRevision: 'main@abc', mirrorHead: undefined, appliedHead: undefined, objectsByKind: { ConfigMap: 40 + index, 'apps/Deployment': 5 },
      lagSeconds: index % 7, mirrorWriter: true, holds: [], kinds: [], initialSync: 'done', lastErrors: [], failing: [], failingObjects: 0, stalls: [],
      heldDeletes: index % 10 === 0 ? 2 : 0, paused: 0, failedOver: undefined, reconcile: undefined, unreachable: undefined,
      ready: index % 10 === 0 ? { status: 'False', reason: 'DeletesHeld', message: '2 deletes held' } : { status: 'True', reason: 'Synced', message: 'caught up' },
      updatedAt: new Date(now).toISOString(),
    });
    for (let sample = 0; sample < 360; sample += 10) await state.recordLag(name, now - (360 - sample) * 10_000, (sample + index) % 5);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-console-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await serveConsole({
    addr: '127.0.0.1:0', mode: 'console', state, mirror: await MirrorRepository.open(path.join(dir, 'mirror.git')), identities: [], log: silentLogger,
    connectBus: () => Promise.reject(new Error('no actions in this test')), plans: () => new Map(),
  });
  harness.servers.push(server);
  const paints: number[] = [];
  for (let round = 0; round < 3; round++) {
    const page = await open(server, '/');
    await page.locator('tr[data-plan]').nth(49).waitFor();
    const mark = await page.evaluate(() => performance.getEntriesByName('lifeboat-overview')[0]?.startTime);
    t.is(await page.locator('tr[data-plan]').count(), 50);
    t.is(await page.locator('tr[data-plan]').first().getAttribute('data-plan'), 'perf-00', 'failing plans first');
    paints.push(mark!);
    await page.close();
  }
  paints.sort((a, b) => a - b);
  t.log(`first paint of 50 plans: ${paints.map((ms) => `${Math.round(ms)} ms`).join(', ')} (median ${Math.round(paints[1]!)} ms)`);
  t.true(paints[1]! < 1000, `median ${paints[1]} ms`);
});
