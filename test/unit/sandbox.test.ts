// Pure helpers of the sandbox and the CLI.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { writeKubeconfigs } from '../../src/sandbox/access.ts';
import type { SandboxState } from '../../src/sandbox/layout.ts';
import { assetVariable } from '../../src/sandbox/binaries.ts';
import { environmentLines } from '../../src/sandbox/sandbox.ts';
import { formatTable } from '../../src/cli/format.ts';

test('envtest variable names for binaries', (t) => {
  t.is(assetVariable('kube-apiserver'), 'TEST_ASSET_KUBE_APISERVER');
  t.is(assetVariable('etcd'), 'TEST_ASSET_ETCD');
  t.is(assetVariable('nats-server'), 'TEST_ASSET_NATS_SERVER');
  t.is(assetVariable('kube-controller-manager'), 'TEST_ASSET_KUBE_CONTROLLER_MANAGER');
});

test('environment lines export the kubeconfig and service URLs', (t) => {
  const text = environmentLines({ dir: '/s', kubeconfig: '/s/kubeconfig', natsUrl: 'nats://127.0.0.1:1', redisUrl: 'redis://127.0.0.1:2' });
  t.deepEqual(text.split('\n'), [
    'export KUBECONFIG=/s/kubeconfig', 'export LIFEBOAT_NATS_URL=nats://127.0.0.1:1', 'export LIFEBOAT_REDIS_URL=redis://127.0.0.1:2',
    'export LIFEBOAT_SANDBOX_DIR=/s',
  ]);
});

test('tables align columns', (t) => {
  t.is(formatTable(['A', 'BB'], [['xxx', 'y'], ['z', '']]), 'A    BB\nxxx  y\nz\n');
});

test('the kubeconfig is rewritten atomically: another process reading it meanwhile never sees it truncated', async (t) => {
  // Tests and users run kubectl and lifeboat on the sandbox's kubeconfig while a later `sandbox up` (or the test
  // helper adding the management cluster) writes it again; a truncated read was 'not a kubeconfig' in CI.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-kubeconfig-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cluster = (port: number) => ({ serviceCidr: '10.0.0.0/24', ports: { etcdClient: port, etcdPeer: port + 1, apiserver: port + 2, controllerManager: port + 3 }, pids: {} });
  const state: SandboxState = { version: 1, clusters: { source: cluster(1000), destination: cluster(2000) }, nats: { client: 1, monitor: 2 }, redis: { port: 3 } };
  for (const name of ['source', 'destination'] as const) {
    const certs = path.join(dir, name, 'certs');
    fs.mkdirSync(certs, { recursive: true });
    // Certificate-sized files, so that each write takes a while.
    const identity = name === 'source' ? 'source-reader' : 'destination-writer';
    for (const file of ['serving-ca.crt', 'admin.crt', 'admin.key', `${identity}.crt`, `${identity}.key`]) {
      fs.writeFileSync(path.join(certs, file), 'x'.repeat(16_384));
    }
  }
  writeKubeconfigs(dir, state);
  const file = path.join(dir, 'kubeconfig');
  const complete = fs.readFileSync(file, 'utf8');
  const reader = spawn(process.execPath, ['--input-type=commonjs', '-e', `
    const fs = require('node:fs');
    const expected = ${JSON.stringify(complete.length)};
    let reads = 0, torn = 0;
    process.stdout.write('ready\\n');
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      reads++;
      try { if (fs.readFileSync(${JSON.stringify(file)}, 'utf8').length !== expected) torn++; } catch { torn++; }
    }
    process.stdout.write(JSON.stringify({ reads, torn }) + '\\n');
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  reader.stdout.setEncoding('utf8');
  await new Promise<void>((resolve) => reader.stdout.on('data', (chunk: string) => { output += chunk; if (output.includes('ready\n')) resolve(); }));
  const exited = new Promise<void>((resolve) => reader.on('close', () => resolve()));
  let writes = 0;
  const end = Date.now() + 1500;
  while (Date.now() < end) {
    writeKubeconfigs(dir, state);
    writes++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await exited;
  const { reads, torn } = JSON.parse(output.split('\n')[1]!) as { reads: number; torn: number };
  t.log(`${writes} writes, ${reads} reads by another process`);
  t.true(writes > 20 && reads > 20, `${writes} writes, ${reads} reads`);
  t.is(torn, 0, `${torn} of ${reads} reads saw a kubeconfig that was not the whole file`);
  t.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file is left');
});
