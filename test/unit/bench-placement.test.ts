// The bench's placements (bench/placement.ts): after a pinned round, `unpinned` gives every process every CPU of the
// machine again — not just the CPUs the pinned bench process itself was left with.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { machineCpus, pinningUnavailable, place } from '../../bench/placement.ts';

/** The CPUs a process may run on, as `taskset -c -p` lists them ("0-1" or "0,1"), spelled out: "0,1". */
const affinity = (pid: number) => execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' }).trim().split(': ').at(-1)!
  .split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number);
    return Array.from({ length: to! - from! + 1 }, (_, index) => from! + index);
  }).join(',');

test('pinned puts the cluster side on CPU 0 and this process on the rest; unpinned after it restores every CPU', async (t) => {
  const why = await pinningUnavailable();
  if (why) return t.fail(`the bench's placements need 2 CPUs and taskset here: ${why}`);
  const child = spawn('sleep', ['30']);
  t.teardown(() => child.kill());
  const all = Array.from({ length: machineCpus() }, (_, cpu) => cpu).join(',');
  try {
    await place('pinned', { 'source/kube-apiserver': child.pid! });
    t.is(affinity(child.pid!), '0');
    t.not(affinity(process.pid), all);
    await place('unpinned', { 'source/kube-apiserver': child.pid! });
    t.is(affinity(child.pid!), all);
    t.is(affinity(process.pid), all);
  } finally {
    execFileSync('taskset', ['-a', '-p', '-c', `0-${machineCpus() - 1}`, String(process.pid)]);
  }
});
