// What the sandbox needs from the machine, checked in one pass before anything is built: a pure plan over a probe of
// the machine (`planPrerequisites`), and the edge that probes, installs Debian packages when it may (root, or sudo
// without a password) and otherwise fails with the exact command to run (`ensurePrerequisites`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A missing prerequisite: the message names each missing one on its own line, and what to do. Exit code 3. */
export class PrerequisiteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrerequisiteError';
  }
}

/** Commands the sandbox runs, and the Debian package that provides each. */
export const debianPackages = { 'redis-server': 'redis-server', openssl: 'openssl', git: 'git' } as const;
/** Commands only the tests run (the container image test), checked by `npm test` and .ci/run, not by the demo. */
export const testDebianPackages = { podman: 'podman', runc: 'runc', chromium: 'chromium' } as const;
export type PackagedCommand = keyof typeof debianPackages | keyof typeof testDebianPackages;

/** What the check is for: the sandbox alone (`npm run demo`, `lifeboat sandbox up`), or the test suite too. */
export type PrerequisitePurpose = 'sandbox' | 'tests';

/** The binaries hack/build-bins.sh builds with Go unless TEST_ASSET_<NAME> or $KUBEBUILDER_ASSETS supplies them. */
export const builtBinaries = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'nats-server', 'kubectl'] as const;

export const minimumGo = { major: 1, minor: 26 } as const;
/** The Go release the instructions name (any >= minimumGo works). */
const suggestedGo = '1.26.8';

/** What the machine has, as plain data. */
export interface PrerequisiteProbe {
  /** Commands found (on PATH, or redis-server through TEST_ASSET_REDIS_SERVER). */
  commands: ReadonlySet<string>;
  /** `go version` output, when go is on PATH. */
  goVersion: string | undefined;
  /** Built binaries that TEST_ASSET_<NAME> or $KUBEBUILDER_ASSETS supplies (these need no Go). */
  suppliedBinaries: ReadonlySet<string>;
  root: boolean;
  passwordlessSudo: boolean;
  /** LIFEBOAT_NO_INSTALL=1: report, never install. */
  installDisabled: boolean;
  /** Go's name for the architecture (amd64, arm64), for the download instructions. */
  goArch: string;
}

export interface MissingPrerequisite {
  name: string;
  /** One line: what is missing, why it matters, how to get it. */
  line: string;
  /** The Debian package that provides it, when one does. */
  debianPackage?: string;
}

export type PrerequisitePlan =
  | { type: 'ready' }
  /** Everything missing is a Debian package this process may install: run `commands`, then check again. */
  | { type: 'install'; missing: MissingPrerequisite[]; packages: string[]; commands: string[][] }
  /** Something is missing that this process will not install: print `lines`, exit 3. */
  | { type: 'missing'; missing: MissingPrerequisite[]; lines: string[] };

/** `go version go1.26.8 linux/amd64` → [1, 26]; undefined when unreadable. */
export function parseGoVersion(output: string): [number, number] | undefined {
  const match = /\bgo(\d+)\.(\d+)/.exec(output);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

function goInstructions(probe: PrerequisiteProbe): string {
  const prefix = probe.root ? '/usr/local' : '$HOME/.local';
  return `get Go >= ${minimumGo.major}.${minimumGo.minor} from https://go.dev/dl (Debian's golang-go is older), e.g. ` +
    `\`mkdir -p ${prefix} && curl -fsSL https://go.dev/dl/go${suggestedGo}.linux-${probe.goArch}.tar.gz | tar -C ${prefix} -xz && export PATH=${prefix}/go/bin:$PATH\`, ` +
    'or set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver, kube-controller-manager, nats-server and kubectl';
}

function goProblem(probe: PrerequisiteProbe): MissingPrerequisite | undefined {
  const needed = builtBinaries.filter((name) => !probe.suppliedBinaries.has(name));
  if (needed.length === 0) return undefined;
  const why = `it builds ${needed.join(', ')} once`;
  if (probe.goVersion === undefined) {
    return { name: 'go', line: `Go is not installed and KUBEBUILDER_ASSETS is not set: ${why}; ${goInstructions(probe)}` };
  }
  const version = parseGoVersion(probe.goVersion);
  if (version && (version[0] > minimumGo.major || (version[0] === minimumGo.major && version[1] >= minimumGo.minor))) return undefined;
  const have = version ? `${version[0]}.${version[1]}` : `unreadable (\`go version\`: ${probe.goVersion.trim()})`;
  return { name: 'go', line: `Go ${have} is older than ${minimumGo.major}.${minimumGo.minor}: ${why}; ${goInstructions(probe)}` };
}

/** The apt-get commands that install `packages`, the way .ci/run does; `sudo -n` when not root. */
export function aptCommands(packages: string[], root: boolean): string[][] {
  const sudo = root ? [] : ['sudo', '-n', 'DEBIAN_FRONTEND=noninteractive'];
  return [
    [...sudo, 'apt-get', 'update', '-qq'],
    [...sudo, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages],
  ];
}

/** The command a person types: `sudo apt-get update -qq && sudo apt-get install … redis-server`. */
function aptCommandLine(packages: string[], probe: PrerequisiteProbe): string {
  const line = aptCommands(packages, true).map((argv) => argv.join(' ')).join(' && ');
  if (probe.root) return `run: ${line}`;
  if (probe.commands.has('sudo')) return `run: ${aptCommands(packages, true).map((argv) => ['sudo', ...argv].join(' ')).join(' && ')}`;
  return `run as root: ${line}`;
}

/** Decides, from what the machine has, whether the sandbox can be built, what to install, or what to tell the user. */
export function planPrerequisites(probe: PrerequisiteProbe, purpose: PrerequisitePurpose = 'sandbox'): PrerequisitePlan {
  const missing: MissingPrerequisite[] = [];
  const reasons: Record<PackagedCommand, string> = {
    'redis-server': 'the sandbox keeps lifeboat\'s state in Redis',
    openssl: 'the sandbox mints its certificates with it',
    git: 'the mirror and the tests use git',
    podman: 'the image test builds and runs the container image with it',
    runc: 'podman runs the image test\'s containers with runc (crun fails on some machines\' cgroups)',
    chromium: 'the console\'s browser tests drive it with playwright-core',
  };
  const packaged = { ...debianPackages, ...(purpose === 'tests' ? testDebianPackages : {}) };
  for (const [command, debianPackage] of Object.entries(packaged) as [PackagedCommand, string][]) {
    if (!probe.commands.has(command)) {
      missing.push({ name: command, debianPackage, line: `${command} not found: ${reasons[command]} (Debian/Ubuntu package ${debianPackage})` });
    }
  }
  const go = goProblem(probe);
  if (go) missing.push(go);
  if (missing.length === 0) return { type: 'ready' };

  const packages = missing.flatMap((item) => (item.debianPackage ? [item.debianPackage] : []));
  const mayInstall = probe.commands.has('apt-get') && (probe.root || probe.passwordlessSudo) && !probe.installDisabled;
  // Install only when that is all it takes: a run that installs packages and then stops for Go helps nobody.
  if (packages.length === missing.length && mayInstall) {
    return { type: 'install', missing, packages, commands: aptCommands(packages, probe.root) };
  }
  const lines = [`${missing.length === 1 ? 'a prerequisite is' : `${missing.length} prerequisites are`} missing (nothing was built):`,
    ...missing.map((item) => `  ${item.line}`)];
  if (packages.length > 0) {
    lines.push(probe.commands.has('apt-get')
      ? `  ${aptCommandLine(packages, probe)}`
      : `  install ${packages.join(', ')} with your system's package manager`);
  }
  return { type: 'missing', missing, lines };
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** envtest's variable name for a binary: TEST_ASSET_KUBE_APISERVER for kube-apiserver. */
export function assetVariable(name: string): string {
  return `TEST_ASSET_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^[0-9]+/, '')}`;
}

/** A binary supplied the envtest way: TEST_ASSET_<NAME>, then $KUBEBUILDER_ASSETS/<name>. */
export function suppliedBinary(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const variable = env[assetVariable(name)];
  if (variable !== undefined) return variable;
  if (env.KUBEBUILDER_ASSETS) {
    const candidate = path.join(env.KUBEBUILDER_ASSETS, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** redis-server: TEST_ASSET_REDIS_SERVER, else the one on PATH. */
export function redisServerBinary(env: NodeJS.ProcessEnv): string | undefined {
  return env[assetVariable('redis-server')] ?? onPath('redis-server', env);
}

const goArches: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armv6l', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** Looks at the machine: which commands exist, Go's version, who we are, whether sudo needs a password. Fast (< 1 s). */
export function probePrerequisites(env: NodeJS.ProcessEnv = process.env): PrerequisiteProbe {
  const commands = new Set<string>();
  for (const name of [...Object.keys(debianPackages), ...Object.keys(testDebianPackages), 'go', 'apt-get', 'sudo']) if (onPath(name, env)) commands.add(name);
  if (redisServerBinary(env)) commands.add('redis-server');
  // runc lands in /usr/sbin, often not on a user's PATH; podman finds it there all the same.
  if (onPath('runc', { PATH: '/usr/local/sbin:/usr/sbin:/sbin' })) commands.add('runc');
  const root = process.getuid?.() === 0;
  let goVersion: string | undefined;
  if (commands.has('go')) {
    const result = spawnSync('go', ['version'], { encoding: 'utf8', env: { ...env, GOTOOLCHAIN: 'local' }, timeout: 4000 });
    goVersion = result.status === 0 ? result.stdout : `${result.stdout ?? ''}${result.stderr ?? ''}` || 'no output';
  }
  const passwordlessSudo = !root && commands.has('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 2000 }).status === 0;
  return {
    commands,
    goVersion,
    suppliedBinaries: new Set(builtBinaries.filter((name) => suppliedBinary(name, env) !== undefined)),
    root,
    passwordlessSudo,
    installDisabled: env.LIFEBOAT_NO_INSTALL === '1',
    goArch: goArches[os.arch()] ?? os.arch(),
  };
}

/**
 * Makes sure the sandbox can be built and run: returns when everything is there (installing Debian packages first
 * when this process may), throws a PrerequisiteError naming everything missing otherwise. Idempotent and quick.
 */
export function ensurePrerequisites(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = () => {}, purpose: PrerequisitePurpose = 'sandbox'): void {
  const plan = planPrerequisites(probePrerequisites(env), purpose);
  switch (plan.type) {
    case 'ready':
      return;
    case 'missing':
      throw new PrerequisiteError(plan.lines.join('\n'));
    case 'install': {
      log(`installing Debian packages: ${plan.packages.join(' ')} (${plan.commands.at(-1)!.join(' ')})`);
      for (const argv of plan.commands) {
        // apt's progress goes to stderr with the rest of the set-up output; stdout stays for what the caller prints.
        const result = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
        if (result.status !== 0) {
          throw new PrerequisiteError(`installing ${plan.packages.join(' ')} failed (\`${argv.join(' ')}\` exited ${result.status ?? result.signal}); run it yourself and try again`);
        }
      }
      const after = planPrerequisites({ ...probePrerequisites(env), installDisabled: true }, purpose);
      if (after.type === 'ready') return;
      const still = after.missing;
      throw new PrerequisiteError([`installed ${plan.packages.join(' ')}, yet ${still.length === 1 ? 'a prerequisite is' : `${still.length} prerequisites are`} still missing (nothing was built):`,
        ...still.map((item) => `  ${item.line}`), `  is the packages' directory on PATH? PATH=${env.PATH ?? ''}`].join('\n'));
    }
    default: {
      const unreachable: never = plan;
      throw new Error(`unknown plan ${String(unreachable)}`);
    }
  }
}
