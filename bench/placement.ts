// Where the timed phases run: `pinned` puts the cluster side (both kube-apiservers, etcds and controller-managers) on
// CPU 0 and the tool side (this process, which is lifeboat and the ceiling's client, plus NATS and Redis, lifeboat's
// engine) on the other CPUs, as in an installation where lifeboat does not run on the API server's cores;
// `unpinned` lets every process run anywhere (one shared pool, as on a laptop). Affinity is set for every thread of a
// process (`taskset -a`); threads started later inherit it.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

/**
 * The machine's CPUs, not this process's share: os.availableParallelism() follows this process's affinity, which a
 * pinned round has narrowed to the tool side (1 of 2), and would then make `unpinned` put everything on CPU 0.
 */
export function machineCpus(): number {
  return os.cpus().length || os.availableParallelism();
}

export type Placement = 'pinned' | 'unpinned';

/** Why pinning cannot be done here, or undefined when it can. */
export async function pinningUnavailable(): Promise<string | undefined> {
  if (machineCpus() < 2) return `this machine has ${machineCpus()} CPU`;
  return promisify(execFile)('taskset', ['-p', String(process.pid)]).then(() => undefined, () => 'taskset (util-linux) is not installed');
}

/** `processes`: name → pid, the cluster side named `<cluster>/<component>` as the bench's sandbox pids are. */
export async function place(placement: Placement, processes: Record<string, number>): Promise<Record<string, string>> {
  const cpus = machineCpus();
  const all = `0-${cpus - 1}`;
  const tools = cpus > 2 ? `1-${cpus - 1}` : '1';
  const placed: Record<string, string> = {};
  const entries: [string, number][] = [...Object.entries(processes), ['bench+lifeboat', process.pid]];
  await Promise.all(entries.map(async ([name, pid]) => {
    const clusterSide = name.includes('/');
    const list = placement === 'unpinned' ? all : clusterSide ? '0' : tools;
    await promisify(execFile)('taskset', ['-a', '-p', '-c', list, String(pid)]).catch(() => undefined); // a process gone is not ours to place
    placed[name] = list;
  }));
  return placed;
}
