// Pure helpers of the sandbox and the CLI.
import test from 'ava';
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
