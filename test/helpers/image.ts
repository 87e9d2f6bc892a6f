// The container image for tests: built (or found current) once per test process by hack/build-image.sh, the script
// the release workflow runs, under a tag of this checkout's own; and podman invoked the way this kind of machine
// needs (runc, nofile/nproc 1024), as a user would type it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';

const repoRoot = new URL('../../', import.meta.url).pathname;

/** runc where it is installed (crun fails on some machines' cgroups); LIFEBOAT_PODMAN_RUNTIME overrides. */
const runtime = process.env.LIFEBOAT_PODMAN_RUNTIME ?? ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].find((file) => fs.existsSync(file));
const globalFlags = runtime ? ['--runtime', runtime] : [];
/** What `podman run` needs here besides the caller's flags. */
export const runFlags = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'] as const;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs podman; resolves with its exit code and output (never rejects on a non-zero exit). */
export function podman(args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile('podman', [...globalFlags, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let pending: Promise<{ image: string; seconds: number; log: string }> | undefined;

/**
 * The image of this checkout, built by hack/build-image.sh once per process (a few seconds when nothing changed:
 * the base is skipped by its input hash, the production dependencies are cached, podman reuses its layers).
 */
export function testImage(): Promise<{ image: string; seconds: number; log: string }> {
  // One tag per checkout: two worktrees testing at once must not run each other's image.
  const image = `localhost/lifeboat:test-${createHash('sha256').update(repoRoot).digest('hex').slice(0, 8)}`;
  pending ??= new Promise((resolve, reject) => {
    const started = Date.now();
    execFile('bash', [`${repoRoot}hack/build-image.sh`, image], { cwd: repoRoot, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`hack/build-image.sh failed (${error.code ?? error.signal}):\n${stderr}`));
      else resolve({ image, seconds: (Date.now() - started) / 1000, log: stderr });
    });
  });
  return pending;
}
