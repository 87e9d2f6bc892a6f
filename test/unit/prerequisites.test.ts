// The prerequisite plan: what a machine lacks, what lifeboat installs itself (root, or sudo without a password) and
// what it tells the user to run instead (exit 3), before anything is built.
import test from 'ava';
import { builtBinaries, parseGoVersion, planPrerequisites, type PrerequisiteProbe } from '../../src/sandbox/prerequisites.ts';

const everything = ['redis-server', 'openssl', 'git', 'podman', 'runc', 'chromium', 'go', 'apt-get'];
const machine = (overrides: Partial<PrerequisiteProbe> & { without?: string[]; with?: string[] } = {}): PrerequisiteProbe => {
  const { without = [], with: extra = [], ...rest } = overrides;
  return {
    commands: new Set([...everything, ...extra].filter((name) => !without.includes(name))),
    goVersion: without.includes('go') ? undefined : 'go version go1.26.8 linux/amd64\n',
    suppliedBinaries: new Set(),
    root: true,
    passwordlessSudo: false,
    installDisabled: false,
    goArch: 'amd64',
    ...rest,
  };
};

test('all present: nothing to do', (t) => {
  t.deepEqual(planPrerequisites(machine()), { type: 'ready' });
  t.deepEqual(planPrerequisites(machine({ root: false })), { type: 'ready' });
});

test('missing redis-server as root: the install .ci/run does is planned', (t) => {
  const plan = planPrerequisites(machine({ without: ['redis-server'] }));
  t.is(plan.type, 'install');
  if (plan.type !== 'install') return;
  t.deepEqual(plan.packages, ['redis-server']);
  t.deepEqual(plan.commands, [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'redis-server'],
  ]);
});

test('podman and runc are the tests\' needs, not the sandbox\'s: the demo goes on without them, npm test installs them', (t) => {
  const probe = machine({ without: ['podman', 'runc'] });
  t.deepEqual(planPrerequisites(probe), { type: 'ready' });
  const plan = planPrerequisites(probe, 'tests');
  t.is(plan.type, 'install');
  if (plan.type !== 'install') return;
  t.deepEqual(plan.packages, ['podman', 'runc']);
  const user = planPrerequisites(machine({ root: false, without: ['podman'] }), 'tests');
  t.is(user.type, 'missing');
  if (user.type !== 'missing') return;
  t.regex(user.lines[1]!, /^ {2}podman not found: the image test .*package podman\)$/);
});

test('missing packages with sudo without a password: installed through sudo -n', (t) => {
  const plan = planPrerequisites(machine({ root: false, passwordlessSudo: true, with: ['sudo'], without: ['redis-server', 'openssl'] }));
  t.is(plan.type, 'install');
  if (plan.type !== 'install') return;
  t.deepEqual(plan.commands, [
    ['sudo', '-n', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq'],
    ['sudo', '-n', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'redis-server', 'openssl'],
  ]);
});

test('non-root without sudo: each missing one on a line and the exact command, nothing installed', (t) => {
  const plan = planPrerequisites(machine({ root: false, without: ['redis-server', 'git'] }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.deepEqual(plan.missing.map((item) => item.name), ['redis-server', 'git']);
  t.is(plan.lines[0], '2 prerequisites are missing (nothing was built):');
  t.regex(plan.lines[1]!, /^ {2}redis-server not found: .*package redis-server/);
  t.regex(plan.lines[2]!, /^ {2}git not found: .*package git/);
  t.is(plan.lines[3], '  run as root: apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server git');
  t.is(plan.lines.length, 4);
});

test('non-root with sudo that asks for a password: the sudo command to type', (t) => {
  const plan = planPrerequisites(machine({ root: false, with: ['sudo'], without: ['openssl'] }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.is(plan.lines.at(-1), '  run: sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends openssl');
});

test('root with installing disabled (LIFEBOAT_NO_INSTALL=1): the command, not the install', (t) => {
  const plan = planPrerequisites(machine({ installDisabled: true, without: ['redis-server'] }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.is(plan.lines.at(-1), '  run: apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server');
});

test('no apt-get: the packages to install, with whatever package manager the machine has', (t) => {
  const plan = planPrerequisites(machine({ without: ['apt-get', 'redis-server'] }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.is(plan.lines.at(-1), '  install redis-server with your system\'s package manager');
});

test('Go missing: how to get it, exit 3 even as root, and no partial install of the rest', (t) => {
  const plan = planPrerequisites(machine({ without: ['go', 'redis-server'] }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.deepEqual(plan.missing.map((item) => item.name), ['redis-server', 'go']);
  t.regex(plan.lines[2]!, /Go is not installed and KUBEBUILDER_ASSETS is not set: it builds etcd, kube-apiserver, kube-controller-manager, nats-server, kubectl once; get Go >= 1\.26 .*go1\.26\.8\.linux-amd64\.tar\.gz \| tar -C \/usr\/local -xz/);
  t.is(plan.lines.at(-1), '  run: apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server');
});

test('Go instructions for a non-root user install into their home', (t) => {
  const plan = planPrerequisites(machine({ root: false, without: ['go'], goArch: 'arm64' }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.is(plan.lines.length, 2);
  t.regex(plan.lines[1]!, /linux-arm64\.tar\.gz \| tar -C \$HOME\/\.local -xz && export PATH=\$HOME\/\.local\/go\/bin:\$PATH/);
});

test('Go older than 1.26 is named with its version', (t) => {
  const plan = planPrerequisites(machine({ goVersion: 'go version go1.24.4 linux/amd64' }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.regex(plan.lines[1]!, /^ {2}Go 1\.24 is older than 1\.26: /);
});

test('Go is not needed when KUBEBUILDER_ASSETS supplies every binary, and is when one is lacking', (t) => {
  t.deepEqual(planPrerequisites(machine({ without: ['go'], suppliedBinaries: new Set(builtBinaries) })), { type: 'ready' });
  const plan = planPrerequisites(machine({ without: ['go'], suppliedBinaries: new Set(builtBinaries.filter((name) => name !== 'kubectl')) }));
  t.is(plan.type, 'missing');
  if (plan.type !== 'missing') return;
  t.regex(plan.lines[1]!, /it builds kubectl once/);
});

test('go versions', (t) => {
  t.deepEqual(parseGoVersion('go version go1.26.8 linux/amd64'), [1, 26]);
  t.deepEqual(parseGoVersion('go version go1.27rc1 linux/arm64'), [1, 27]);
  t.deepEqual(parseGoVersion('go version go2.0 linux/amd64'), [2, 0]);
  t.is(parseGoVersion('garbage'), undefined);
});
