// `npm run demo`: brings the sandbox up and shows how to reach it. (The replication pipeline turns this into the
// full demo: a sample application in the source appearing, deactivated, in the destination.)
import { KubeClient, loadKubeConfig } from '../src/kube/client.ts';
import { defaultSandboxDir, environmentLines, sandboxStatus, sandboxUp } from '../src/sandbox/sandbox.ts';
import { formatTable } from '../src/cli/format.ts';

const dir = defaultSandboxDir();
const started = Date.now();
console.log(`Starting the Lifeboat sandbox in ${dir} (the first run builds the control planes from Go modules; that takes a while) …`);
const info = await sandboxUp(dir, (line) => console.log(`  ${line}`));
console.log(`\nSandbox ready in ${((Date.now() - started) / 1000).toFixed(1)}s.\n`);
const rows = (await sandboxStatus(dir)) ?? [];
console.log(formatTable(['COMPONENT', 'STATE', 'ENDPOINT', 'RSS'], rows.map((row) => [
  row.component, row.healthy ? 'healthy' : 'unhealthy', row.endpoint, `${Math.round(row.residentBytes / 2 ** 20)} MiB`])));

for (const context of ['source', 'destination']) {
  const client = await KubeClient.create(loadKubeConfig({ path: info.kubeconfig, context }));
  const version = await client.request<{ gitVersion: string }>('GET', '/version');
  const namespaces = await client.request<{ items: { metadata: { name: string } }[] }>('GET', '/api/v1/namespaces');
  console.log(`${context.padEnd(12)} ${client.server.href}  Kubernetes ${version.gitVersion}, namespaces: ${namespaces.items.map((n) => n.metadata.name).join(', ')}`);
  client.close();
}
console.log(`\nTo use it from a shell:\n\n  eval "$(npm run --silent lifeboat -- sandbox env)"\n\n${environmentLines(info)}\n`);
console.log('Contexts in the kubeconfig: source, destination (admins), source-reader (read-only), destination-writer.');
console.log('Stop it with `npm run lifeboat -- sandbox down` (add --keep to keep the data).');
