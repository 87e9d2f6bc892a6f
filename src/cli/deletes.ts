// `lifeboat deletes list|approve|reject PLAN`: what the delete guard holds, and a person's decision about it
// (src/pipeline/decisions.ts).
import type { Command } from 'commander';
import { Bus } from '../bus/bus.ts';
import type { HeldDelete } from '../pipeline/delete-guard.ts';
import { approveDeletes, rejectDeletes } from '../pipeline/decisions.ts';
import type { StateStore } from '../state/state.ts';
import { connectState, findPlan } from './context.ts';
import { formatTable } from './format.ts';
import { sharedOptions, sharedValues, type SharedValues, UsageError } from './options.ts';
import { describe } from './commands.ts';

interface DecisionOptions {
  all?: boolean;
}

/** The held deletes a decision is about: every one with --all, else those whose path or object name is given. */
function chosen(held: HeldDelete[], plan: string, objects: string[], all: boolean | undefined): HeldDelete[] {
  if (all) return held;
  const picked = objects.map((wanted) => {
    const match = held.find((entry) => entry.path === wanted || entry.summary === wanted);
    if (!match) throw new Error(`no held delete ${JSON.stringify(wanted)} in plan ${plan}`);
    return match;
  });
  return [...new Map(picked.map((entry) => [entry.path, entry])).values()];
}

/** Runs a decision (approve, reject) on the chosen held deletes and prints what it did. */
async function decideHeld(plan: string, objects: string[], options: DecisionOptions, shared: SharedValues, act: (chosenDeletes: HeldDelete[], state: StateStore, shared: SharedValues) => Promise<string>): Promise<void> {
  // The command line first: a decision that names nothing (or both) is refused before anything is read.
  if (options.all && objects.length) throw new UsageError('give either --all or objects, not both');
  if (!options.all && !objects.length) throw new UsageError(`say which deletes: --all, or mirror paths / "Kind namespace/name" as listed by \`lifeboat deletes list ${plan}\``);
  await findPlan(shared, plan);
  const state = await connectState(shared.redis);
  try {
    const picked = chosen(await state.heldDeletes(plan), plan, objects, options.all);
    process.stdout.write(`${picked.length ? await act(picked, state, shared) : `no deletes are held for plan ${plan}`}\n`);
  } finally {
    await state.close();
  }
}

export function registerDeletes(program: Command): void {
  const deletes = program.command('deletes').description(describe('deletes'));
  sharedOptions(deletes.command('list').argument('<plan>').description('the deletes the guard holds for a plan, and why'))
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (plan: string, options: { output: string }, command: Command) => {
      const shared = sharedValues(command);
      await findPlan(shared, plan);
      const state = await connectState(shared.redis);
      try {
        const held = await state.heldDeletes(plan);
        if (options.output === 'json') process.stdout.write(`${JSON.stringify({ plan, held }, null, 2)}\n`);
        else if (!held.length) process.stdout.write(`no deletes are held for plan ${plan}\n`);
        else {
          process.stdout.write(formatTable(['OBJECT', 'HELD SINCE', 'REASON'], held.map((entry) => [entry.summary, entry.at, entry.reason])));
          process.stdout.write(`\n${held.length} deletes held. Approve: lifeboat deletes approve ${plan} --all   Reject: lifeboat deletes reject ${plan} --all\n`);
        }
      } finally {
        await state.close();
      }
    });

  sharedOptions(deletes.command('approve').argument('<plan>').argument('[objects...]', 'mirror paths or "Kind namespace/name" (see list)')
    .description('commit the held deletes: the objects are removed from the mirror and then from the stand-by'))
    .option('--all', 'every held delete of the plan')
    .action((plan: string, objects: string[], options: DecisionOptions, command: Command) => decideHeld(plan, objects, options, sharedValues(command), async (approved, state, shared) => {
      const bus = await Bus.connect(shared.nats);
      try {
        return await approveDeletes(bus, state, plan, approved);
      } finally {
        await bus.close();
      }
    }));

  sharedOptions(deletes.command('reject').argument('<plan>').argument('[objects...]', 'mirror paths or "Kind namespace/name" (see list)')
    .description('keep the objects in the mirror and the stand-by; their deletes are not committed while they stay gone'))
    .option('--all', 'every held delete of the plan')
    .action((plan: string, objects: string[], options: DecisionOptions, command: Command) => decideHeld(plan, objects, options, sharedValues(command), (rejected, state) => rejectDeletes(state, plan, rejected)));
}
