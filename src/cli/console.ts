// `lifeboat console`: the web console on its own, beside a running `lifeboat run` (or operator) that it reads
// through Redis and the mirror; its actions (approve, reject, recover, drill) run here as the CLI commands do.
// `lifeboat run --console-addr` and `lifeboat operator --console-addr` serve the same console themselves.
import type { Command } from 'commander';
import { Bus } from '../bus/bus.ts';
import { consoleToken, serveConsole } from '../console/server.ts';
import type { PlanContext } from '../runtime/plans.ts';
import { createLogger } from '../util/log.ts';
import { connectState, openMirror, readPlans } from './context.ts';
import { identitiesOf } from './daemon.ts';
import { sharedOptions, sharedValues } from './options.ts';
import { describe } from './commands.ts';

/** How long the plans source read is reused (the console reads it for each page, at most this often). */
const plansTtlMs = 10_000;

export function registerConsole(program: Command): void {
  sharedOptions(program.command('console').description(describe('console')))
    .option('--addr <host:port>', 'where it listens (a port alone: loopback)', '127.0.0.1:9465')
    .option('--identity <file...>', 'age identities to decrypt Secrets for a recovery to a revision (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .addHelpText('after', '\nThe token every action needs is printed at start; $LIFEBOAT_CONSOLE_TOKEN sets it (the same for every console of an installation).')
    .action(async (options: { addr: string; identity?: string[] }, command: Command) => {
      const shared = sharedValues(command);
      const log = createLogger({ level: process.env.LIFEBOAT_LOG_LEVEL ?? 'info' });
      const state = await connectState(shared.redis);
      const mirror = await openMirror(shared.mirror);
      let bus: Bus | undefined;
      let plans: { at: number; contexts: ReadonlyMap<string, PlanContext> } = { at: 0, contexts: new Map() };
      const readContexts = async () => {
        if (Date.now() - plans.at > plansTtlMs) {
          // A plans source that does not read (yet) leaves the console read-only for specs: it says so once a minute.
          const contexts = await readPlans(shared.plans).catch((error: Error) => {
            if (Date.now() - plans.at > 60_000) log.warn({ plans: shared.plans, err: error.message }, 'cannot read the plans: plans show from Redis only, recover and drill need them');
            return plans.contexts;
          });
          plans = { at: Date.now(), contexts };
        }
        return plans.contexts;
      };
      await readContexts();
      const server = await serveConsole({
        addr: options.addr, token: consoleToken(), mode: 'console', state, mirror, identities: identitiesOf(options.identity), log, plans: readContexts,
        connectBus: async () => (bus ??= await Bus.connect(shared.nats)),
      });
      process.stderr.write(`console: ${server.url} token: ${server.token}\n`);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
      });
      await server.close();
      await bus?.close();
      await state.close();
    });
}
