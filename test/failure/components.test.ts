// Lifeboat split into one process per stage (`lifeboat run --components …`), with two processors and two
// synchronizers, while a burst of source changes goes on and a random process is killed with SIGKILL every few
// seconds and started again. The stand-by ends equal to the source, the mirror never went back to an older version
// of an object, and its head holds exactly the source's objects. These tests kill processes: `npm test` runs them alone.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { KubeClient } from '../../src/kube/client.ts';
import { refFromMirrorPath } from '../../src/kube/ref.ts';
import { configMap, createNamespace, eventually, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { startLifeboat, type LifeboatProcess } from '../helpers/processes.ts';
import { uniqueName } from '../helpers/sandbox.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

const handles: PipelineHandle[] = [];
const processes: LifeboatProcess[] = [];
test.after.always(async () => {
  for (const child of processes) child.kill('SIGKILL');
  await Promise.all(processes.map((child) => child.exited));
  await Promise.all(handles.map((handle) => handle.close()));
});

type Obj = { metadata: { name: string; namespace?: string }; data?: Record<string, string> };

/** `namespace/name` → data (as JSON) of every ConfigMap of the namespaces (kube-root-ca.crt left out). */
async function configMaps(client: KubeClient, namespaces: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const ns of namespaces) {
    const list = await client.request<{ items: Obj[] }>('GET', cmPath(ns));
    for (const item of list.items) if (item.metadata.name !== 'kube-root-ca.crt') found.set(`${ns}/${item.metadata.name}`, JSON.stringify(item.data ?? {}));
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

/**
 * The mirror branch's history, oldest first, as git itself reads it: per commit, each ConfigMap path it changed and
 * the object's data then (undefined for a delete).
 */
async function mirrorHistory(gitdir: string, ref: string): Promise<{ commit: string; changes: { path: string; data: Record<string, string> | undefined }[] }[]> {
  const { stdout } = await run('git', ['--git-dir', gitdir, 'log', '--first-parent', '--reverse', '--raw', '--no-abbrev', '--no-renames', '--format=commit %H', ref], { maxBuffer: 256 * 1024 * 1024 });
  const commits: { commit: string; changes: { path: string; blob: string | undefined }[] }[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('commit ')) commits.push({ commit: line.slice(7), changes: [] });
    // :100644 100644 <old> <new> M\t<path>
    const raw = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) ([AMDT])\t(.+)$/.exec(line);
    if (raw && raw[3]!.includes('/ConfigMap/')) commits.at(-1)!.changes.push({ path: raw[3]!, blob: raw[2] === 'D' ? undefined : raw[1] });
  }
  const blobs = [...new Set(commits.flatMap((commit) => commit.changes.map((change) => change.blob).filter((blob) => blob !== undefined)))];
  const contents = new Map<string, string>();
  // `git cat-file --batch` answers `<oid> blob <size>\n<content>\n` per oid asked for.
  const { stdout: batch } = await new Promise<{ stdout: Buffer }>((resolve, reject) => {
    const child = execFile('git', ['--git-dir', gitdir, 'cat-file', '--batch'], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 }, (error, out) => (error ? reject(error) : resolve({ stdout: out })));
    child.stdin!.end(blobs.map((blob) => `${blob}\n`).join(''));
  });
  let offset = 0;
  while (offset < batch.length) {
    const headerEnd = batch.indexOf(10, offset);
    const [oid, , size] = batch.subarray(offset, headerEnd).toString().split(' ');
    const start = headerEnd + 1;
    contents.set(oid!, batch.subarray(start, start + Number(size)).toString());
    offset = start + Number(size) + 1;
  }
  return commits.map(({ commit, changes }) => ({
    commit, changes: changes.map(({ path, blob }) => ({ path, data: blob === undefined ? undefined : ((parse(contents.get(blob)!) as Obj).data ?? {}) })),
  }));
}

const roles = ['listener', 'processor', 'mirror', 'synchronizer', 'reconciler', 'processor', 'synchronizer'] as const;

test('one process per stage, two processors and two synchronizers, one killed -9 every few seconds during 1,000 changes: nothing lost, nothing older after newer', async (t) => {
  t.timeout(4 * 60_000);
  const namespaces = [uniqueName('split'), uniqueName('split'), uniqueName('split'), uniqueName('split')];
  const handle = await pipeline({ secrets: { mode: 'exclude' }, resources: { include: [{ namespaces }] },
    // A fifth of the burst deletes: the delete guard would rightly hold them for approval.
    deletes: { guard: { maxPercent: 100, minDeletes: 100_000 } } });
  handles.push(handle);
  const { source, destination } = handle;
  // Per object, the counter last written (a global counter: it only grows, across deletes and recreates too).
  const live = new Map<string, number>();
  let counter = 0;
  for (const ns of namespaces) {
    await createNamespace(source, ns);
    for (let index = 0; index < 10; index++) {
      await source.request('POST', cmPath(ns), configMap(`cm-${index}`, { v: String(++counter) }));
      live.set(`${ns}/cm-${index}`, counter);
    }
  }

  const start = (role: (typeof roles)[number]) => startLifeboat(handle, { args: ['--components', role] }).then((child) => {
    processes.push(child);
    return child;
  });
  const slots: LifeboatProcess[] = [];
  for (const role of roles) slots.push(await start(role));
  await Promise.all(slots.map((child) => child.ready(120_000)));
  await eventually('the initial objects at the stand-by', async () => difference(await configMaps(source, namespaces), await configMaps(destination, namespaces)), (diff) => diff === '', 60_000);

  // The burst: 8 writers, each owning its own names (so each object's changes happen in a known order), paced to
  // last about 30 s so that every process is killed at least once while it runs.
  const operations = 1000;
  const writers = 8;
  let done = 0;
  const burst = Promise.all(Array.from({ length: writers }, async (_, writer) => {
    const names = Array.from({ length: 12 }, (__, index) => ({ ns: namespaces[(writer + index) % namespaces.length]!, name: `w${writer}-${index}` }));
    for (let step = 0; step < operations / writers; step++) {
      const { ns, name } = names[Math.floor(Math.random() * names.length)]!;
      const key = `${ns}/${name}`;
      const v = String(++counter);
      if (!live.has(key)) {
        await source.request('POST', cmPath(ns), configMap(name, { v }));
        live.set(key, Number(v));
      } else if (Math.random() < 0.2) {
        await source.request('DELETE', cmPath(ns, name));
        live.delete(key);
      } else {
        // Unconditional update (no resourceVersion): each writer is the only one writing its objects.
        await source.request('PUT', cmPath(ns, name), configMap(name, { v }));
        live.set(key, Number(v));
      }
      done++;
      await sleep(200 + Math.random() * 100);
    }
  }));
  let burstDone = false;
  void burst.finally(() => (burstDone = true));

  // Kills: every slot once, in a random order, then random slots until the burst is over.
  const order = roles.map((_, index) => index).sort(() => Math.random() - 0.5);
  const kills: string[] = [];
  let lastKill = Date.now();
  while (order.length > 0 || !burstDone) {
    await sleep(2500 + Math.random() * 1500);
    const slot = order.shift() ?? Math.floor(Math.random() * roles.length);
    const victim = slots[slot]!;
    victim.kill('SIGKILL');
    await victim.exited;
    lastKill = Date.now();
    kills.push(`${roles[slot]}@${done}`);
    slots[slot] = await start(roles[slot]!);
  }
  await burst;
  t.log(`${operations} changes; killed (component@changes done): ${kills.join(', ')}`);

  // The stand-by converges to the source exactly.
  await Promise.all(slots.map((child) => child.ready(120_000)));
  const expected = await configMaps(source, namespaces);
  t.is(expected.size, live.size);
  for (const [key, v] of live) t.is(expected.get(key), JSON.stringify({ v: String(v) }), `the source has ${key} at v=${v}`);
  let last = '';
  try {
    await eventually('the stand-by equal to the source', async () => (last = difference(expected, await configMaps(destination, namespaces))), (diff) => diff === '', 120_000);
  } catch (error) {
    for (const [index, child] of slots.entries()) t.log(`${roles[index]}: ${child.output().trim().split('\n').slice(-8).join('\n')}`);
    throw new Error(`${(error as Error).message}: ${last}`, { cause: error });
  }
  t.log(`the stand-by equal to the source ${((Date.now() - lastKill) / 1000).toFixed(1)} s after the last kill`);

  // No path's older version committed after a newer one: along the history, data.v of a path never decreases
  // (a delete keeps the last version seen; the recreate has a larger counter).
  const history = await mirrorHistory(handle.mirror.gitdir, handle.mirror.ref);
  const seen = new Map<string, number>();
  const regressions: string[] = [];
  for (const { commit, changes } of history) {
    for (const { path, data } of changes) {
      if (!data) continue;
      const v = Number(data.v);
      const before = seen.get(path);
      if (before !== undefined && v < before) regressions.push(`${path}: v=${v} in ${commit.slice(0, 12)} after v=${before}`);
      seen.set(path, Math.max(v, before ?? v));
    }
  }
  t.log(`${history.length} mirror commits, ${seen.size} ConfigMap paths`);
  t.deepEqual(regressions, [], 'an older version committed after a newer one');

  // No commit lost: the mirror head's tree has exactly the source's ConfigMaps, each with the source's data.
  const head = await handle.mirror.head();
  const files = await handle.mirror.files(head, handle.plan);
  const atHead = new Map<string, string>();
  for (const [path, oid] of files) {
    if (!path.includes('/ConfigMap/')) continue;
    const { ref } = refFromMirrorPath(path);
    atHead.set(`${ref.namespace}/${ref.name}`, JSON.stringify((parse(await handle.mirror.readText(oid)) as Obj).data ?? {}));
  }
  t.is(difference(expected, atHead), '', 'the mirror head has exactly the source objects');
  t.deepEqual(await handle.state.failures(handle.plan), []);
});
