// `lifeboat sandbox up|down|status|env`: the local two-cluster sandbox the demo and the tests run on, and with
// `up --management` a third cluster for the 3-cluster topology (a management cluster running Lifeboat's operator),
// `up --nats-cluster 3` and `up --redis-sentinel` the clustered forms of NATS and Redis.
import { InvalidArgumentError, type Command } from 'commander';
import { defaultSandboxDir, environmentLines, readState, sandboxDown, sandboxInfo, sandboxStatus, sandboxUp } from '../sandbox/sandbox.ts';
import { formatTable } from './format.ts';
import { describe } from './commands.ts';

/** A cluster of 3 to 7 nodes (JetStream needs a majority: 2 nodes survive no loss). */
function parseClusterSize(value: string): number {
  const size = Number(value);
  if (!Number.isInteger(size) || size < 3 || size > 7) throw new InvalidArgumentError('a number of nodes from 3 to 7 (a cluster of 2 cannot lose one)');
  return size;
}

const stamp = () => new Date().toISOString().slice(11, 19);

export function registerSandbox(program: Command): void {
  const sandbox = program.command('sandbox').description(describe('sandbox'));
  const dirOption = ['--dir <dir>', 'sandbox directory (default: $LIFEBOAT_SANDBOX_DIR or ./.lifeboat/sandbox)'] as const;

  sandbox.command('up').description('start the sandbox, or confirm it is up (idempotent); checks prerequisites first (as root it installs missing Debian packages; exit 3 names what is missing) and builds the binaries once').option(...dirOption)
    .option('--management', 'also a management cluster (context `management`), for the 3-cluster topology; a sandbox that has one keeps it in every later `up`')
    .option('--nats-cluster <n>', 'NATS as a cluster of n nats-servers on loopback (streams replicated on up to 3; `env` gives their URLs comma-separated) instead of one server; kept by every later `up`', parseClusterSize)
    .option('--redis-sentinel', 'Redis as a primary, a replica and three sentinels (`env` gives a redis+sentinel:// URL) instead of one server; kept by every later `up`')
    .action(async (options: { dir?: string; management?: boolean; natsCluster?: number; redisSentinel?: boolean }) => {
      const dir = options.dir ?? defaultSandboxDir();
      const started = Date.now();
      const info = await sandboxUp(dir, (line) => process.stderr.write(`${stamp()} ${line}\n`), {
        management: options.management, natsCluster: options.natsCluster, redisSentinel: options.redisSentinel,
      });
      process.stderr.write(`${stamp()} sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
      process.stdout.write(`${environmentLines(info)}\n`);
    });

  sandbox.command('down').description('stop the sandbox and remove its directory').option(...dirOption)
    .option('--keep', 'keep the data (etcd, JetStream, Redis, certificates) for the next `up`')
    .action(async (options: { dir?: string; keep?: boolean }) => {
      await sandboxDown(options.dir ?? defaultSandboxDir(), { keep: options.keep }, (line) => process.stderr.write(`${stamp()} ${line}\n`));
    });

  sandbox.command('status').description('show each sandbox process, its health, endpoint and memory').option(...dirOption)
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (options: { dir?: string; output: string }) => {
      const rows = await sandboxStatus(options.dir ?? defaultSandboxDir());
      if (!rows) {
        process.stderr.write('lifeboat: no sandbox here; start one with `lifeboat sandbox up`\n');
        process.exitCode = 1;
        return;
      }
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else {
        const total = rows.reduce((sum, row) => sum + row.residentBytes, 0);
        process.stdout.write(formatTable(['COMPONENT', 'PID', 'STATE', 'ENDPOINT', 'RSS'], rows.map((row) => [
          row.component, row.pid ? String(row.pid) : '-', row.healthy ? 'healthy' : row.running ? 'unhealthy' : 'stopped', row.endpoint,
          `${Math.round(row.residentBytes / 2 ** 20)} MiB`,
        ])));
        process.stdout.write(`total memory: ${Math.round(total / 2 ** 20)} MiB\n`);
      }
      if (!rows.every((row) => row.healthy)) process.exitCode = 1;
    });

  sandbox.command('env').description('print `export` lines for KUBECONFIG, LIFEBOAT_NATS_URL, LIFEBOAT_REDIS_URL, LIFEBOAT_SANDBOX_DIR and PATH (the sandbox\'s kubectl first)').option(...dirOption)
    .action((options: { dir?: string }) => {
      const dir = options.dir ?? defaultSandboxDir();
      const state = readState(dir);
      if (!state) {
        process.stderr.write('lifeboat: no sandbox here; start one with `lifeboat sandbox up`\n');
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${environmentLines(sandboxInfo(dir, state))}\n`);
    });
}
