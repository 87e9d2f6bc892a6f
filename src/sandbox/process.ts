// Background processes of the sandbox: started detached in their own process group, logging to a file, found
// again later by pid (checked against /proc so a recycled pid is never mistaken for ours), stopped gracefully.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartedProcess {
  pid: number;
  log: string;
}

/** Starts `binary args…` detached from this process, stdout and stderr appended to `log`. */
export function startDetached(binary: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): StartedProcess {
  const fd = fs.openSync(log, 'a');
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`could not start ${binary}`);
    child.unref();
    return { pid: child.pid, log };
  } finally {
    fs.closeSync(fd);
  }
}

/** True when `pid` is alive and runs `binary` (by the executable's base name). */
export function isRunning(pid: number | undefined, binary: string): boolean {
  if (!pid) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false; // a zombie is as good as dead
    // Some servers rewrite their title (redis: "redis-server 127.0.0.1:6379"), so compare the first word's base name.
    const executable = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/)[0] ?? '';
    return path.basename(executable) === path.basename(binary);
  } catch {
    return false;
  }
}

/**
 * The pids of this machine's processes whose command line mentions `text` (a directory of their own: a config file
 * or data directory under it), this process left out. Finds what pid bookkeeping missed, for a last sweep and a check.
 */
export function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) found.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** SIGTERM to the process group, SIGKILL after `graceMs`. Resolves once the process is gone. */
export async function stopProcess(pid: number | undefined, binary: string, graceMs = 20_000): Promise<void> {
  if (!pid || !isRunning(pid, binary)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(pid, binary)) {
    if (Date.now() > deadline) {
      signal(pid, 'SIGKILL');
      await sleep(200);
      if (!isRunning(pid, binary)) return;
    }
    await sleep(100);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Resident memory of a process in bytes (0 when it is gone). */
export function residentBytes(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Polls `check` until it returns true; throws with `what` and the last error once `timeoutMs` has passed. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port the kernel hands out as free right now on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The last `lines` lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
