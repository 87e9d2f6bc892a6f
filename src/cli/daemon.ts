// What every long-running command (`lifeboat run`, `lifeboat operator`) shares: its flags (metrics address, age
// identities, components, mirror remote), the last-resort fatal handler, NATS, Redis (outages waited out) and the
// mirror, /metrics, /healthz and /readyz, and a graceful stop on SIGTERM or SIGINT. The command builds its service.
import type { Command } from 'commander';
import { Bus } from '../bus/bus.ts';
import { serveConsole } from '../console/server.ts';
import { createMetrics, serveMetrics, type Metrics } from '../metrics/metrics.ts';
import { MirrorPusher } from '../mirror/pusher.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import { readIdentities, type PlanContext } from '../runtime/plans.ts';
import { components, parseComponents, type Component } from '../runtime/ports.ts';
import { StateStore } from '../state/state.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { openMirror } from './context.ts';
import { sharedValues, UsageError, type SharedValues } from './options.ts';

/** age identities from --identity, else $LIFEBOAT_AGE_IDENTITY_FILE. */
export const identitiesOf = (files: string[] | undefined) => readIdentities(files ?? (process.env.LIFEBOAT_AGE_IDENTITY_FILE ? [process.env.LIFEBOAT_AGE_IDENTITY_FILE] : []));

export interface DaemonFlags {
  mirrorRemote?: string;
  metricsAddr: string;
  identity?: string[];
  components: string;
  consoleAddr?: string;
}

/** Adds the long-running commands' own flags. */
export function daemonOptions(command: Command): Command {
  return command
    .option('--mirror-remote <url>', 'push the mirror to this HTTP(S) git remote after each commit (token: $LIFEBOAT_MIRROR_TOKEN)')
    .option('--metrics-addr <host:port>', 'where /metrics, /healthz and /readyz listen', '127.0.0.1:9464')
    .option('--identity <file...>', 'age identity files that decrypt Secrets at the destination (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .option('--components <list>', `the stages this process runs, comma-separated (${components.join(',')}); the others run in other lifeboat processes`, components.join(','))
    .option('--console-addr <host:port>', 'also serve the web console here (a port alone: loopback); actions need the token it prints ($LIFEBOAT_CONSOLE_TOKEN sets it)');
}

/** What a daemon is given to build its service from. */
export interface DaemonParts {
  shared: SharedValues;
  log: Logger;
  /** NATS, connected on first use (an operator that only recovers never needs it). */
  connectBus: () => Promise<Bus>;
  state: StateStore;
  mirror: MirrorRepository;
  metrics: Metrics;
  pusher: MirrorPusher | undefined;
  identities: string[];
  components: ReadonlySet<Component>;
}

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
  readiness(): { ready: boolean; reasons: string[] };
  /** The plans it runs now (the console shows and recovers them). */
  planContexts?(): ReadonlyMap<string, PlanContext>;
}

/** What --console-addr serves: the mode it shows and where its token comes from (default: printed at start). */
export interface ConsoleSetup {
  mode: 'run' | 'operator';
  /** The token (undefined: none, the console is read-only); without this, a random one, printed. */
  token?: () => Promise<string | undefined>;
  /** Where the token is said to be, instead of printing it (the operator's Secret), and how to give one. */
  tokenWhere?: string;
  noTokenHint?: string;
}

/** Runs a service until SIGTERM or SIGINT; `describe` is logged once it listens. */
export async function runDaemon(command: Command, flags: DaemonFlags, name: string,
  build: (parts: DaemonParts) => Promise<{ service: Service; describe: Record<string, unknown>; console?: ConsoleSetup }>): Promise<void> {
  const shared = sharedValues(command);
  let only: ReadonlySet<Component>;
  try {
    only = parseComponents(flags.components);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const log = createLogger();
  // Last resort. Failures of one message or object are caught where they happen; what still arrives here is a
  // bug of unknown effect (a stage's loop may be dead while /healthz says ok), so the process says so and exits
  // for its supervisor to restart it: JetStream redelivers what was not acknowledged, leases expire, state is
  // level-based. Exit code 70 (EX_SOFTWARE).
  let shuttingDown = false;
  const fatal = (error: unknown) => {
    // Shutting down with Redis down, state commands are told to fail instead of waiting (`stopWaiting`); one
    // whose caller had already moved on is expected then, not a bug.
    if (shuttingDown && error instanceof Error && error.name === 'MaxRetriesPerRequestError') {
      log.warn({ err: error.message }, 'a state command failed during shutdown (Redis is down); its state is re-derived at the next start');
      return;
    }
    log.fatal({ err: error instanceof Error ? error.stack ?? error.message : String(error) }, `internal error (a bug): exiting so that the supervisor restarts lifeboat ${name}`);
    log.flush();
    process.exit(70);
  };
  process.on('unhandledRejection', fatal);
  process.on('uncaughtException', fatal);
  const identities = identitiesOf(flags.identity);
  let bus: Bus | undefined;
  const connectBus = async () => (bus ??= await Bus.connect(shared.nats));
  // Redis outages are waited out: every state read and write pauses until it answers again (never fatal).
  const state = await StateStore.connect(shared.redis, {
    waitWhileDown: true,
    onOutage: (event, error) => event === 'down'
      ? log.warn({ err: error?.message }, 'Redis is unreachable; state reads and writes wait until it is back')
      : log.info('Redis is back; resuming'),
  });
  const mirror = await openMirror(shared.mirror, { create: true });
  const metrics = createMetrics();
  const pusher = flags.mirrorRemote ? new MirrorPusher(mirror, flags.mirrorRemote, {
    token: process.env.LIFEBOAT_MIRROR_TOKEN, onError: (error, attempt) => log.warn({ err: error.message, attempt }, 'mirror push failed; retrying'),
  }) : undefined;
  const { service, describe, console: consoleSetup } = await build({ shared, log, connectBus, state, mirror, metrics, pusher, identities, components: only });
  const server = await serveMetrics(metrics, flags.metricsAddr, () => service.readiness());
  const webConsole = flags.consoleAddr ? await serveConsole({
    addr: flags.consoleAddr, token: consoleSetup?.token ? (await consoleSetup.token()) ?? null : undefined, noTokenHint: consoleSetup?.noTokenHint,
    mode: consoleSetup?.mode ?? 'run', state, connectBus, mirror, identities, log,
    plans: () => service.planContexts?.() ?? new Map(),
  }) : undefined;
  if (webConsole) {
    const where = consoleSetup?.tokenWhere;
    const token = !webConsole.token ? `none, read-only (${consoleSetup?.noTokenHint ?? 'set $LIFEBOAT_CONSOLE_TOKEN'})` : where ? `(${where})` : webConsole.token;
    process.stderr.write(`console: ${webConsole.url} token: ${token}\n`);
  }
  log.info({ metrics: `http://${server.address}/metrics`, ...(webConsole ? { console: webConsole.url } : {}), mirror: mirror.gitdir, components: [...only], ...describe }, `lifeboat ${name} running`);
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    shuttingDown = true;
    stopping ??= (async () => {
      log.info({ signal }, 'shutting down: finishing in-flight batches');
      // Redis down: what needs it fails instead of waiting (state is level-based, the next start re-derives it).
      state.stopWaiting();
      await service.stop().catch((error: Error) => log.warn({ err: error.message }, 'stopped without finishing everything'));
      await server.close();
      await webConsole?.close();
      await bus?.close();
      await state.close();
      log.flush();
    })();
    return stopping;
  };
  // Signals are handled from the start: a SIGTERM during the initial sync is a graceful stop too.
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown(signal).then(resolve));
  });
  await Promise.race([service.start(), stopped]);
  await stopped;
}
