// Finds the sandbox's binaries, following envtest's convention (TEST_ASSET_<NAME>, then $KUBEBUILDER_ASSETS), and
// otherwise builds them once from Go modules with hack/build-bins.sh into a cache outside the repo.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  natsServer: string;
  redisServer: string;
}

/** A missing prerequisite: the message is one line naming it and how to get it. */
export class PrerequisiteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrerequisiteError';
  }
}

const buildScript = fileURLToPath(new URL('../../hack/build-bins.sh', import.meta.url));

/** envtest's variable name for a binary: TEST_ASSET_KUBE_APISERVER for kube-apiserver. */
export function assetVariable(name: string): string {
  return `TEST_ASSET_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^[0-9]+/, '')}`;
}

function fromEnvironment(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const variable = assetVariable(name);
  if (env[variable] !== undefined) return env[variable];
  if (env.KUBEBUILDER_ASSETS) {
    const candidate = path.join(env.KUBEBUILDER_ASSETS, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** Runs the build script (idempotent; fast when everything is cached) and returns the directory of binaries. */
function buildFromModules(): string {
  const result = spawnSync('bash', [buildScript], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status === 3) throw new PrerequisiteError('Go is not installed and KUBEBUILDER_ASSETS is not set: install Go >= 1.26 (https://go.dev/dl) or point KUBEBUILDER_ASSETS at kube-apiserver, kube-controller-manager and etcd');
  if (result.status !== 0) throw new PrerequisiteError(`building the control-plane binaries failed (bash ${buildScript}, exit ${result.status}); see the output above`);
  return result.stdout.trim().split('\n').pop() ?? '';
}

export function locateBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const kubeNames = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'nats-server'] as const;
  const found = new Map<string, string | undefined>(kubeNames.map((name) => [name, fromEnvironment(name, env)]));
  if ([...found.values()].some((value) => value === undefined)) {
    const built = buildFromModules();
    for (const name of kubeNames) if (found.get(name) === undefined) found.set(name, path.join(built, name));
  }
  for (const [name, file] of found) {
    if (!file || !fs.existsSync(file)) throw new PrerequisiteError(`${name} not found at ${file ?? '(unset)'}: unset ${assetVariable(name)}/KUBEBUILDER_ASSETS to build it from Go modules, or point them at the binary`);
  }
  const redisServer = env[assetVariable('redis-server')] ?? onPath('redis-server');
  if (!redisServer) throw new PrerequisiteError('redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server) or set TEST_ASSET_REDIS_SERVER');
  return {
    etcd: found.get('etcd')!,
    kubeApiserver: found.get('kube-apiserver')!,
    kubeControllerManager: found.get('kube-controller-manager')!,
    natsServer: found.get('nats-server')!,
    redisServer,
  };
}

/** Fails with a clear line when openssl (used to mint the sandbox's certificates) is missing. */
export function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    throw new PrerequisiteError('openssl not found: install it (Debian/Ubuntu: apt-get install openssl); the sandbox mints its certificates with it');
  }
}
