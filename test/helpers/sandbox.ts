// Test access to the sandbox: the one `npm test` started (its environment), or one started (or reused) on demand
// when a single test file is run directly with ava. Every test isolates itself with names from `uniqueName`.
import { randomBytes } from 'node:crypto';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { defaultSandboxDir, readState, sandboxInfo, sandboxUp, type SandboxInfo } from '../../src/sandbox/sandbox.ts';

let pending: Promise<SandboxInfo> | undefined;

export function sandbox(): Promise<SandboxInfo> {
  pending ??= (async () => {
    const dir = process.env.LIFEBOAT_SANDBOX_DIR ?? defaultSandboxDir();
    const state = readState(dir);
    if (process.env.KUBECONFIG && state) return sandboxInfo(dir, state);
    return sandboxUp(dir);
  })();
  return pending;
}

let pendingManagement: Promise<SandboxInfo> | undefined;

/**
 * The test sandbox with a management cluster (context `management`), added by `up --management` on first use; the
 * sandbox keeps it from then on. Only the tests of the 3-cluster topology need it (it costs a third control plane).
 */
export function managementSandbox(): Promise<SandboxInfo> {
  pendingManagement ??= (async () => {
    const info = await sandbox();
    const state = readState(info.dir);
    if (state?.clusters.management) return info;
    return sandboxUp(info.dir, () => {}, { management: true });
  })();
  return pendingManagement;
}

/**
 * A client for one of the sandbox's contexts: source, destination, source-reader, destination-writer, and management
 * in a sandbox started with `up --management` (`managementSandbox()`).
 */
export async function kube(context: 'source' | 'destination' | 'source-reader' | 'destination-writer' | 'management'): Promise<KubeClient> {
  const info = await sandbox();
  return KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context }));
}

/** A DNS-1123 name unique to this test run: `prefix-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
