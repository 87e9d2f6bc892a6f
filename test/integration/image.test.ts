// The container image as a user runs it with podman: built by hack/build-image.sh from the Containerfile the release
// workflow publishes; `lifeboat --help` works; it runs as a non-root user with production dependencies only; and
// `lifeboat run` in it, with a read-only root filesystem (no tmpfs on /tmp either, as in a pod), host network, plans
// and kubeconfig mounted read-only and the mirror on a volume, replicates a ConfigMap and stops gracefully (exit 0,
// in seconds) on `podman stop`.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from '../../src/sandbox/process.ts';
import { podman, runFlags, testImage } from '../helpers/image.ts';
import { configMap, createNamespace, demoIdentityFile, eventually, get, pipeline } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const packageJson = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const node = ['--entrypoint', '/usr/local/bin/node'];

test('the image: lifeboat --help exits 0 on a read-only root, as user 65532, with production dependencies only', async (t) => {
  const { image, seconds } = await testImage();
  t.log(`image ${image} built or confirmed in ${seconds.toFixed(1)}s`);

  const help = await podman(['run', '--rm', ...runFlags, '--read-only', '--read-only-tmpfs=false', image, '--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: lifeboat \[options\] \[command\]/);

  const version = await podman(['run', '--rm', ...runFlags, '--read-only', image, '--version']);
  t.is(version.stdout.trim(), packageJson.version, version.stderr);

  // Who it runs as, and what it can write: only the data directory (a volume) and /tmp.
  const probe = await podman(['run', '--rm', ...runFlags, '--read-only', ...node, image, '-e', `
    const fs = require('node:fs');
    const writable = (dir) => { try { fs.writeFileSync(dir + '/probe', ''); return true; } catch { return false; } };
    console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), node: process.version,
      data: writable('/var/lib/lifeboat'), app: writable('/app'), root: writable('/'),
      compiled: fs.existsSync('/app/dist/cli/main.js'), sources: fs.existsSync('/app/src'), page: fs.existsSync('/app/dist/console/web/dist/index.html'),
      devDependencies: ['typescript', 'ava', 'eslint', 'node'].filter((name) => fs.existsSync('/app/node_modules/' + name)),
      dependencies: ['@kubernetes/client-node', 'pino', 'isomorphic-git'].filter((name) => fs.existsSync('/app/node_modules/' + name)) }));
  `]);
  t.is(probe.code, 0, probe.stderr);
  const seen = JSON.parse(probe.stdout) as Record<string, unknown>;
  t.like(seen, { uid: 65532, gid: 65532, data: true, app: false, root: false, devDependencies: [] });
  t.like(seen, { compiled: true, sources: false, page: true }, 'compiled JavaScript and the console page, no TypeScript to strip at start');
  t.deepEqual(seen.dependencies, ['@kubernetes/client-node', 'pino', 'isomorphic-git']);
  t.regex(String(seen.node), /^v24\./);

  const config = await podman(['image', 'inspect', '--format', '{{json .Config}}', image]);
  const { User, Entrypoint, Labels } = JSON.parse(config.stdout) as { User: string; Entrypoint: string[]; Labels: Record<string, string> };
  t.is(User, '65532:65532');
  t.deepEqual(Entrypoint, ['/usr/local/bin/node', '/app/bin/lifeboat.js']);
  t.like(Labels, { 'org.opencontainers.image.title': 'lifeboat', 'org.opencontainers.image.version': packageJson.version, 'org.opencontainers.image.licenses': 'Apache-2.0' });
});

test('the image: lifeboat run replicates a ConfigMap with a read-only root, and podman stop ends it gracefully', async (t) => {
  const [{ image }, info] = await Promise.all([testImage(), sandbox()]);
  const ns = uniqueName('image');
  const handle = await pipeline({ resources: { include: [{ namespaces: [ns] }] }, secrets: { mode: 'exclude' } });
  t.teardown(() => handle.close());
  // The plans as the container sees them: the kubeconfig where it is mounted.
  const cluster = (name: string, context: string) => ({
    apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name }, spec: { kubeconfig: { path: '/etc/lifeboat/kubeconfig', context } },
  });
  fs.writeFileSync(path.join(handle.plansDir, 'clusters.yaml'), `${stringify(cluster('source', 'source-reader'))}---\n${stringify(cluster('destination', 'destination-writer'))}`);
  // The kubeconfig readable by the container's user, as a Secret volume's defaultMode would make it (the sandbox's is 0600).
  const kubeconfig = path.join(handle.dir, 'kubeconfig');
  fs.copyFileSync(info.kubeconfig, kubeconfig);
  fs.chmodSync(kubeconfig, 0o644);
  // The mirror's volume: a directory the container's user may write (as an emptyDir would be).
  const data = path.join(handle.dir, 'data');
  fs.mkdirSync(data, { mode: 0o777 });
  fs.chmodSync(data, 0o777);

  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('hello', { from: 'image' }));
  const port = await freePort();
  const name = `lifeboat-${ns}`;
  const started = await podman(['run', '--detach', '--name', name, ...runFlags, '--read-only', '--read-only-tmpfs=false', '--network', 'host',
    '-v', `${handle.plansDir}:/etc/lifeboat/plans:ro`, '-v', `${kubeconfig}:/etc/lifeboat/kubeconfig:ro`,
    '-v', `${demoIdentityFile}:/etc/lifeboat/identity.txt:ro`, '-v', `${data}:/var/lib/lifeboat`,
    '-e', `LIFEBOAT_NATS_URL=${info.natsUrl}`, '-e', `LIFEBOAT_REDIS_URL=${info.redisUrl}`,
    image, 'run', '--plans', '/etc/lifeboat/plans', '--metrics-addr', `127.0.0.1:${port}`, '--identity', '/etc/lifeboat/identity.txt']);
  t.is(started.code, 0, started.stderr);
  t.teardown(() => podman(['rm', '--force', '--time', '0', name]).then(() => undefined));
  const logs = async () => {
    const { stdout, stderr } = await podman(['logs', name]);
    return stdout + stderr;
  };

  try {
    await waitFor('/readyz of lifeboat run in the container', () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false), 90_000, 250);
  } catch (error) {
    t.log(await logs());
    throw error;
  }
  const copied = await eventually('the ConfigMap in the destination', () => get<{ data?: Record<string, string> }>(handle.destination, `/api/v1/namespaces/${ns}/configmaps/hello`), (value) => value !== undefined);
  t.deepEqual(copied?.data, { from: 'image' });
  // The commit in the mirror, on the volume (written as user 65532, hence safe.directory).
  const files = execFileSync('git', ['-c', 'safe.directory=*', '--git-dir', path.join(data, 'mirror.git'), 'ls-tree', '-r', '--name-only', 'main'], { encoding: 'utf8' });
  t.true(files.split('\n').includes(`${handle.plan}/namespaces/${ns}/ConfigMap/hello.yaml`), files);

  const stopping = Date.now();
  const stopped = await podman(['stop', '--time', '20', name]);
  const stopSeconds = (Date.now() - stopping) / 1000;
  t.is(stopped.code, 0, stopped.stderr);
  t.log(`podman stop took ${stopSeconds.toFixed(1)}s`);
  const state = await podman(['inspect', '--format', '{{.State.ExitCode}}', name]);
  const output = await logs();
  t.is(state.stdout.trim(), '0', `a graceful stop exits 0 (logs:\n${output})`);
  t.true(stopSeconds < 8, `podman stop took ${stopSeconds.toFixed(1)}s: SIGTERM was not handled (podman kills after --time)`);
  t.regex(output, /shutting down: finishing in-flight batches/);
});
