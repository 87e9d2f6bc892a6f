// Lifeboat's own kubeconfig reader: certificates, tokens (a token file re-read on every refresh), basic auth, paths
// relative to the file; a user that signs in through a program goes to client-node's KubeConfig; a kubeconfig with
// certificates never loads client-node at all.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { KubeconfigFile } from '../../src/kube/kubeconfig.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function kubeconfig(users: Record<string, object>): object {
  return {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'certs',
    clusters: [
      { name: 'one', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('CA-ONE') } },
      { name: 'two', cluster: { server: 'https://api.example.com', 'certificate-authority': 'ca/two.crt', 'tls-server-name': 'api.internal' } },
      { name: 'open', cluster: { server: 'https://open.example.com', 'insecure-skip-tls-verify': true } },
    ],
    users: Object.entries(users).map(([name, user]) => ({ name, user })),
    contexts: [
      { name: 'certs', context: { cluster: 'one', user: 'certs' } },
      { name: 'token-file', context: { cluster: 'two', user: 'token-file' } },
      { name: 'basic', context: { cluster: 'open', user: 'basic' } },
      { name: 'exec', context: { cluster: 'one', user: 'exec' } },
    ],
  };
}

function fixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-kubeconfig-'));
  fs.mkdirSync(path.join(dir, 'ca'));
  fs.writeFileSync(path.join(dir, 'ca', 'two.crt'), 'CA-TWO');
  fs.writeFileSync(path.join(dir, 'token'), 'first-token\n');
  fs.writeFileSync(path.join(dir, 'config'), stringify(kubeconfig({
    certs: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
    'token-file': { tokenFile: 'token' },
    basic: { username: 'admin', password: 'secret' },
    exec: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } },
  })));
  return dir;
}

const options = async (config: ReturnType<typeof loadKubeConfig>) => {
  const result: https.RequestOptions = {};
  await config.applyToHTTPSOptions(result);
  return result;
};

test('client certificates and the CA from data; the current context by default', async (t) => {
  const dir = fixture();
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const config = loadKubeConfig({ path: path.join(dir, 'config') });
  t.true(config instanceof KubeconfigFile);
  t.is(config.getCurrentContext(), 'certs');
  t.like(config.getCurrentCluster(), { name: 'one', server: 'https://127.0.0.1:6443', caData: b64('CA-ONE'), skipTLSVerify: false });
  const applied = await options(config);
  t.is(String(applied.ca), 'CA-ONE');
  t.is(String(applied.cert), 'CERT');
  t.is(String(applied.key), 'KEY');
  t.true(applied.rejectUnauthorized);
  t.is((applied.headers as Record<string, string>).Authorization, undefined);
});

test('a token file and a CA file relative to the kubeconfig; the token is read again at each refresh (rotation)', async (t) => {
  const dir = fixture();
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const config = loadKubeConfig({ path: path.join(dir, 'config'), context: 'token-file' });
  const first = await options(config);
  t.is(String(first.ca), 'CA-TWO');
  t.is(first.servername, 'api.internal');
  t.is((first.headers as Record<string, string>).Authorization, 'Bearer first-token');
  fs.writeFileSync(path.join(dir, 'token'), 'rotated-token\n');
  t.is(((await options(config)).headers as Record<string, string>).Authorization, 'Bearer rotated-token');
});

test('basic auth and insecure-skip-tls-verify', async (t) => {
  const dir = fixture();
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const applied = await options(loadKubeConfig({ path: path.join(dir, 'config'), context: 'basic' }));
  t.is(applied.auth, 'admin:secret');
  t.false(applied.rejectUnauthorized);
});

test('a user that signs in through a program (exec) is read by client-node; an unknown context names the known ones', (t) => {
  const dir = fixture();
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const config = loadKubeConfig({ path: path.join(dir, 'config'), context: 'exec' });
  t.false(config instanceof KubeconfigFile);
  t.is(config.getCurrentContext(), 'exec');
  t.is(config.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  t.throws(() => loadKubeConfig({ path: path.join(dir, 'config'), context: 'nope' }), { message: /has no context "nope" \(contexts: certs, token-file, basic, exec\)/ });
});

test('a client for a kubeconfig with certificates never loads @kubernetes/client-node', async (t) => {
  const dir = fixture();
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const found = next(specifier, context); seen.push(found.url); return found; } });
    const { KubeClient, loadKubeConfig } = await import(${JSON.stringify(new URL('../../src/kube/client.ts', import.meta.url).href)});
    const client = await KubeClient.create(loadKubeConfig({ path: ${JSON.stringify(path.join(dir, 'config'))}, context: 'token-file' }));
    client.close();
    console.log(JSON.stringify(seen));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  const seen = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
  t.true(seen.some((url) => url.endsWith('/src/kube/kubeconfig.ts')), 'the hook sees the modules');
  t.false(seen.some((url) => url.includes('@kubernetes/client-node')), 'client-node is not loaded');
});
