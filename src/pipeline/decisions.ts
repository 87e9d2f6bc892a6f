// A person's decision about deletes the delete guard holds (`lifeboat deletes approve|reject`, the console).
// Approving publishes the deletes to the plan's mirror writer (they are committed and then applied); rejecting
// keeps the objects in the mirror and the stand-by, and the guard drops those deletes until the objects come back.
import type { Bus } from '../bus/bus.ts';
import type { StateStore } from '../state/state.ts';
import type { HeldDelete } from './delete-guard.ts';
import type { ObjectMessage } from './messages.ts';

export async function approveDeletes(bus: Bus, state: StateStore, plan: string, approved: readonly HeldDelete[]): Promise<string> {
  const at = Date.now();
  for (const entry of approved) {
    const message: ObjectMessage = { type: 'object.deleted', plan, path: entry.path, summary: entry.summary, observedAt: at, approved: true };
    await bus.publish('objects', plan, message, `${plan}:approve:${entry.path}:${entry.at}`);
  }
  await state.releaseDeletes(plan, approved.map((entry) => entry.path));
  return `approved ${approved.length} deletes of plan ${plan}; the mirror writer commits them and the stand-by follows`;
}

export async function rejectDeletes(state: StateStore, plan: string, rejected: readonly HeldDelete[]): Promise<string> {
  await state.rejectDeletes(plan, rejected.map((entry) => entry.path));
  return `rejected ${rejected.length} deletes of plan ${plan}; the objects stay in the mirror and the stand-by`;
}
