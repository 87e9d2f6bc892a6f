// `lifeboat run`: the pipeline for every plan of a plans source (daemon.ts runs it). `lifeboat status` is status.ts.
import type { Command } from 'commander';
import { Runtime } from '../runtime/runtime.ts';
import { daemonOptions, runDaemon, type DaemonFlags } from './daemon.ts';
import { sharedOptions } from './options.ts';
import { describe } from './commands.ts';

export function registerRun(program: Command): void {
  daemonOptions(sharedOptions(program.command('run').description(describe('run'))))
    .option('--plan-poll-interval <ms>', 'how often the plans source is polled', '10000')
    .action(async (options: DaemonFlags & { planPollInterval: string }, command: Command) => {
      await runDaemon(command, options, 'run', async ({ shared, log, connectBus, state, mirror, metrics, pusher, identities, components: only }) => {
        const bus = await connectBus();
        const runtime = new Runtime({ plans: shared.plans, mirror, bus, state, metrics, log, identities, planPollMs: Number(options.planPollInterval), pusher, components: only });
        return { service: runtime, describe: { plans: shared.plans }, console: { mode: 'run' as const } };
      });
    });
}
