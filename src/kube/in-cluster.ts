// The configuration of a process running in a pod: the API server from KUBERNETES_SERVICE_HOST/PORT, the pod's
// service-account token (re-read as the kubelet rotates it) and CA, and its namespace. LIFEBOAT_SERVICEACCOUNT_DIR
// replaces the token directory, so tests run the operator as a process with a real ServiceAccount token.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KubeconfigFile, type Kubeconfig } from './kubeconfig.ts';

export const defaultServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export function serviceAccountDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIFEBOAT_SERVICEACCOUNT_DIR ?? defaultServiceAccountDir;
}

/** True when this process runs in a pod (or is made to look like one): the service host is set and a token exists. */
export function inCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST) && fs.existsSync(path.join(serviceAccountDir(env), 'token'));
}

/** The in-cluster KubeConfig and the pod's namespace (from the service-account directory, when it has one). */
export function loadInClusterConfig(env: NodeJS.ProcessEnv = process.env): { kubeConfig: Kubeconfig; namespace: string | undefined } {
  const dir = serviceAccountDir(env);
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not in a pod: KUBERNETES_SERVICE_HOST is not set (give --kubeconfig and --context)');
  for (const file of ['token', 'ca.crt']) {
    if (!fs.existsSync(path.join(dir, file))) throw new Error(`service-account ${file} not found in ${dir} (set LIFEBOAT_SERVICEACCOUNT_DIR, or give --kubeconfig)`);
  }
  const kubeConfig = KubeconfigFile.inCluster(
    { name: 'in-cluster', server: `https://${net.isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: path.join(dir, 'ca.crt'), skipTLSVerify: false },
    path.join(dir, 'token'),
  );
  const namespaceFile = path.join(dir, 'namespace');
  const namespace = fs.existsSync(namespaceFile) ? fs.readFileSync(namespaceFile, 'utf8').trim() || undefined : undefined;
  return { kubeConfig, namespace };
}
