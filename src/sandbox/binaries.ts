// Finds the sandbox's binaries, following envtest's convention (TEST_ASSET_<NAME>, then $KUBEBUILDER_ASSETS), and
// otherwise builds them once from Go modules with hack/build-bins.sh into a cache outside the repo. What the machine
// must have for that (Go, redis-server, openssl, git) is checked before, in prerequisites.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assetVariable, builtBinaries, PrerequisiteError, redisServerBinary, suppliedBinary } from './prerequisites.ts';

export { assetVariable, PrerequisiteError } from './prerequisites.ts';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  natsServer: string;
  redisServer: string;
  /** Not run by the sandbox: the README's and the user's `kubectl`, put on PATH by `sandbox env`. */
  kubectl: string;
}

const buildScript = fileURLToPath(new URL('../../hack/build-bins.sh', import.meta.url));

/** Runs the build script (idempotent; fast when everything is cached) and returns the directory of binaries. */
function buildFromModules(): string {
  // The script's progress (stderr) goes straight to the user: a first build takes minutes.
  const result = spawnSync('bash', [buildScript], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status === 3) throw new PrerequisiteError('Go is not installed and KUBEBUILDER_ASSETS is not set: install Go >= 1.26 (https://go.dev/dl) or point KUBEBUILDER_ASSETS at etcd, kube-apiserver, kube-controller-manager, nats-server and kubectl');
  if (result.status !== 0) throw new PrerequisiteError(`building the sandbox binaries failed (bash ${buildScript}, exit ${result.status ?? result.signal}); see the output above`);
  return result.stdout.trim().split('\n').pop() ?? '';
}

export function locateBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const found = new Map<string, string | undefined>(builtBinaries.map((name) => [name, suppliedBinary(name, env)]));
  if ([...found.values()].some((value) => value === undefined)) {
    const built = buildFromModules();
    for (const name of builtBinaries) if (found.get(name) === undefined) found.set(name, path.join(built, name));
  }
  for (const [name, file] of found) {
    if (!file || !fs.existsSync(file)) throw new PrerequisiteError(`${name} not found at ${file ?? '(unset)'}: unset ${assetVariable(name)}/KUBEBUILDER_ASSETS to build it from Go modules, or point them at the binary`);
  }
  const redisServer = redisServerBinary(env);
  if (!redisServer) throw new PrerequisiteError('redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server) or set TEST_ASSET_REDIS_SERVER');
  return {
    etcd: found.get('etcd')!,
    kubeApiserver: found.get('kube-apiserver')!,
    kubeControllerManager: found.get('kube-controller-manager')!,
    natsServer: found.get('nats-server')!,
    kubectl: found.get('kubectl')!,
    redisServer,
  };
}
