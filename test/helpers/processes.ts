// Real processes for failure tests: `lifeboat run` as a child process (killed, restarted, signalled), and the
// sandbox's own NATS, Redis and API server processes stopped, paused and brought back.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureCredentials, natsAuthorization, type SandboxCredentials } from '../../src/sandbox/credentials.ts';
import { defaultSandboxDir, readState, sandboxUp } from '../../src/sandbox/sandbox.ts';
import { freePort, processesMentioning, stopProcess, waitFor } from '../../src/sandbox/process.ts';
import { demoIdentityFile, type PipelineHandle } from './pipeline.ts';
import { sandbox } from './sandbox.ts';

const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;

/**
 * Runs a test file's cleanups, newest first, each on its own and bounded: one that fails or hangs must not leave
 * the servers after it running.
 */
export async function runCleanups(cleanups: (() => unknown)[], boundMs = 15_000): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    await Promise.race([Promise.resolve().then(cleanup).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, boundMs))]);
  }
}

/**
 * A temporary directory for servers a test starts itself, with users and passwords as in the sandbox
 * (`credentials`) and the NATS permissions for them (`natsConfig`). `remove` kills -9 whatever still runs with
 * files under it (a last sweep for what the pid bookkeeping missed), then deletes it.
 */
export function serversDir(prefix: string): { dir: string; credentials: SandboxCredentials; natsConfig: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeboat-${prefix}-`));
  const credentials = ensureCredentials(dir);
  const natsConfig = path.join(dir, 'nats-auth.conf');
  fs.writeFileSync(natsConfig, natsAuthorization(credentials), { mode: 0o600 });
  return {
    dir, credentials, natsConfig,
    remove: () => {
      processesMentioning(dir).forEach((pid) => process.kill(pid, 'SIGKILL'));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LifeboatProcess {
  child: ChildProcess;
  port: number;
  /** Everything it logged so far. */
  output(): string;
  exited: Promise<number | null>;
  ready(timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Starts `lifeboat run` on the pipeline's plans and mirror (the one the handle reads), metrics on a free port;
 * `args` are added to its command line (`--components listener`); `natsUrl`/`redisUrl` instead of the sandbox's.
 */
export async function startLifeboat(handle: Pick<PipelineHandle, 'plansDir' | 'mirror'>, options: { mirror?: string; args?: string[]; natsUrl?: string; redisUrl?: string } = {}): Promise<LifeboatProcess> {
  const info = await sandbox();
  const port = await freePort();
  const env = { ...process.env, LIFEBOAT_NATS_URL: options.natsUrl ?? info.natsUrl, LIFEBOAT_REDIS_URL: options.redisUrl ?? info.redisUrl, LIFEBOAT_LOG_LEVEL: process.env.LIFEBOAT_TEST_CHILD_LOG_LEVEL ?? 'info' };
  const child = spawn(process.execPath, [cli, 'run', '--plans', handle.plansDir, '--mirror', options.mirror ?? handle.mirror.gitdir,
    '--metrics-addr', `127.0.0.1:${port}`, '--identity', demoIdentityFile, '--plan-poll-interval', '500', ...(options.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, port, exited, output: () => output,
    ready: (timeoutMs = 120_000) => waitFor('lifeboat /readyz', () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false), timeoutMs, 200)
      .catch((error: Error) => {
        throw new Error(`${error.message}; its last log lines:\n${output.trim().split('\n').slice(-25).join('\n')}`, { cause: error });
      }),
    kill: (signal) => child.kill(signal),
  };
}

function sandboxDir(): string {
  return process.env.LIFEBOAT_SANDBOX_DIR ?? defaultSandboxDir();
}

/**
 * The pid of a sandbox component and its binary name, in the test sandbox or the one in `dir`.
 * `management-apiserver` only in a sandbox started with `up --management`.
 */
export function component(name: 'nats' | 'redis' | 'destination-apiserver' | 'source-apiserver' | 'management-apiserver', dir = sandboxDir()): { pid: number; binary: string } {
  const state = readState(dir);
  if (!state) throw new Error('no sandbox state');
  if (name === 'nats') return { pid: state.nats.pid!, binary: 'nats-server' };
  if (name === 'redis') return { pid: state.redis.pid!, binary: 'redis-server' };
  const cluster = state.clusters[name === 'source-apiserver' ? 'source' : name === 'management-apiserver' ? 'management' : 'destination'];
  if (!cluster) throw new Error(`the sandbox in ${dir} has no management cluster (start it with \`sandbox up --management\`)`);
  return { pid: cluster.pids.apiserver!, binary: 'kube-apiserver' };
}

/** Stops a sandbox component (SIGTERM): its address refuses connections until `startStopped()`. */
export async function stopComponent(name: Parameters<typeof component>[0], dir = sandboxDir()): Promise<void> {
  const { pid, binary } = component(name, dir);
  await stopProcess(pid, binary, 10_000);
}

/** Starts what was stopped (`sandbox up` keeps healthy processes) and resolves once it is healthy. */
export async function startStopped(): Promise<void> {
  await sandboxUp(sandboxDir());
}

/** Stops a sandbox component (SIGTERM), waits `downMs`, and starts it again with `sandbox up`. */
export async function restartComponent(name: 'nats' | 'redis', downMs = 2000): Promise<void> {
  await stopComponent(name);
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await startStopped();
}

/** Freezes a process (SIGSTOP) for `ms`: connections hang as they do behind a broken network. Always resumes it. */
export async function pause(pid: number, ms: number, during?: () => Promise<void>): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  try {
    await Promise.all([new Promise((resolve) => setTimeout(resolve, ms)), during?.()]);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

export const mirrorOf = (handle: PipelineHandle) => path.join(handle.dir, 'mirror.git');
