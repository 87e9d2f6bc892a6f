// Every command of `lifeboat`, with its description, and the module that defines it. The program loads only the
// module of the command being run (main.ts): `lifeboat --help` reads this table and nothing else, so it starts in
// tens of milliseconds instead of loading every dependency. Each module takes its description from here.
export const commandTable = {
  sandbox: { module: 'sandbox', usage: '', description: 'a local source and destination cluster (and a management cluster with `up --management`), NATS and Redis on loopback' },
  run: { module: 'run', usage: '', description: 'replicate every plan: listener, processor, mirror writer and synchronizer (creates the mirror when missing)' },
  status: { module: 'status', usage: '', description: 'per plan: mirror head, applied head, objects by kind, lag and last errors (with --plans: only its plans)' },
  operator: { module: 'operator', usage: '', description: 'run the plans defined as RecoveryPlan and ManagedCluster resources of a namespace, and write their status back' },
  plan: { module: 'plan', usage: '', description: 'check, inspect and apply recovery plans (RecoveryPlan, ManagedCluster, RecoveryExecutionJob files)' },
  cluster: { module: 'cluster', usage: '', description: 'connect clusters to lifeboat operator (like argocd cluster add): add, list, remove' },
  deletes: { module: 'deletes', usage: '', description: 'deletes held by the delete guard: list, approve or reject them' },
  recover: { module: 'recover', usage: '<plan>', description: 'activate the stand-by: undo every deactivation of the plan\'s objects, optionally after restoring a mirror revision (Redis, when it answers, marks the plan failed over)' },
  drill: { module: 'recover', usage: '<plan>', description: 'a non-disruptive DR test: bring up an activated copy of the plan in scratch namespaces of the stand-by, time it, report failures, clean up' },
  failback: { module: 'recover', usage: '<plan>', description: 'undo a failover: clear the plan\'s failed-over mark so replication to the stand-by starts again (says what that overwrites; asks first)' },
  history: { module: 'history', usage: '<plan>', description: 'every mirror revision of a plan: what it changed and when it reached the stand-by (from Redis, when it answers)' },
  diff: { module: 'history', usage: '<plan> <revision> [revision2]', description: 'what changed in a plan\'s mirror files: one revision against its parent, or from one revision to another (Secret values masked)' },
  rollback: { module: 'rollback', usage: '<plan>', description: 'commit a tree equal to a past revision for one plan; the stand-by follows' },
  revert: { module: 'rollback', usage: '<plan> <commit>', description: 'undo one mirror commit of a plan (refused when later commits changed the same objects)' },
  resume: { module: 'rollback', usage: '<plan>', description: 'let source changes in again for objects a rollback or revert paused' },
  console: { module: 'console', usage: '', description: 'the web console: every plan\'s RPO live, mirror history and diffs, held deletes to approve or reject, recover and drill; read-only without its token' },
} as const;

export type CommandName = keyof typeof commandTable;
export type CommandModule = (typeof commandTable)[CommandName]['module'];

/** The description of a top-level command (the one place it is written). */
export function describe(name: CommandName): string {
  return commandTable[name].description;
}
