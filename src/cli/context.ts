// What a plan command finds from its shared options: the plan from the plans source (its mirror.path and
// clusters), the mirror (which only `run` may create), a client for the plan's destination, and the optional
// servers a command can do without.
import fs from 'node:fs';
import path from 'node:path';
// The modules behind these (plans and their evaluation, NATS, Redis, git, Kubernetes) are loaded when a command
// first needs them: `lifeboat history` never loads NATS or the Kubernetes client.
import type { Bus } from '../bus/bus.ts';
import type { KubeClient } from '../kube/client.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { PlanContext } from '../runtime/plans.ts';
import type { StateStore } from '../state/state.ts';
import type { SharedValues } from './options.ts';
import { redisDatabase } from '../state/redis-url.ts';

/** Every plan of the plans source, by name; refuses a source with errors. */
export async function readPlans(plans: string): Promise<Map<string, PlanContext>> {
  const [{ createPlanSource, parsePlanSource }, { evaluatePlans }] = await Promise.all([import('../plan/source.ts'), import('../runtime/plans.ts')]);
  const snapshot = await createPlanSource(parsePlanSource(plans)).snapshot();
  const evaluated = evaluatePlans(snapshot, process.cwd());
  const first = evaluated.errors[0];
  if (first) throw new Error(`the plans in ${plans} have ${evaluated.errors.length} error(s), first ${first.file}:${first.line}:${first.column}: ${first.message} (see lifeboat plan validate)`);
  return evaluated.plans;
}

/**
 * The names of the plans a plans source defines, read from its files without evaluating them (no schemas, no
 * clusters): what `lifeboat status --plans` filters by. A file that does not parse names no plan.
 */
export async function planNames(plans: string): Promise<Set<string>> {
  const [{ createPlanSource, parsePlanSource }, { readYamlSubset }] = await Promise.all([import('../plan/source.ts'), import('../util/yaml.ts')]);
  const snapshot = await createPlanSource(parsePlanSource(plans)).snapshot();
  const names = new Set<string>();
  for (const file of snapshot.files) {
    // Plain files (no comments, anchors or flow style) by the mirror's fast reader, the rest by the plan parser.
    const documents = file.text.split(/^---\n/m).filter((text) => text.trim() !== '').map(readYamlSubset);
    const values = documents.includes(undefined) ? (await import('../plan/parse.ts')).parseYamlFile(file).documents.map(({ value }) => value) : documents;
    for (const value of values) {
      const document = value as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (document?.kind === 'RecoveryPlan' && typeof document.metadata?.name === 'string') names.add(document.metadata.name);
    }
  }
  return names;
}

/**
 * The plan `name` when the plans source defines it. When --plans / $LIFEBOAT_PLANS was given, a source that cannot be
 * read or lacks the plan is an error (naming the plans it has); left at its default, such a source gives undefined
 * and the plan is known only by its name (its mirror path is then the name).
 */
export async function findPlan(shared: SharedValues, name: string): Promise<PlanContext | undefined> {
  if (shared.explicit.plans) return requirePlan(shared, name);
  // The default source is a directory that may not be here: then nothing is loaded to find that out.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(shared.plans) && !fs.existsSync(shared.plans)) return undefined;
  try {
    return (await readPlans(shared.plans)).get(name);
  } catch {
    return undefined;
  }
}

/** The plan `name`, which the plans source must define (recover and drill need its clusters). */
export async function requirePlan(shared: SharedValues, name: string): Promise<PlanContext> {
  const plans = await readPlans(shared.plans);
  const context = plans.get(name);
  if (!context) {
    const known = [...plans.keys()].sort();
    throw new Error(`no plan "${name}" in ${shared.plans} (${known.length ? `known: ${known.join(', ')}` : 'it defines none'})`);
  }
  return context;
}

/** The plan's directory in the mirror: --mirror-path, else the plan's mirror.path, else its name. */
export function mirrorPathOf(name: string, context: PlanContext | undefined, override: string | undefined): string {
  return override ?? context?.plan.spec.mirror.path ?? name;
}

/** Opens the mirror; only a command that writes it from scratch (`run`) may create it. */
export async function openMirror(dir: string, options: { create?: boolean } = {}): Promise<MirrorRepository> {
  const gitdir = path.resolve(dir);
  if (!options.create && !(fs.existsSync(path.join(gitdir, 'HEAD')) && fs.existsSync(path.join(gitdir, 'objects')))) {
    throw new Error(`no mirror repository at ${gitdir} (\`lifeboat run\` creates it; set --mirror or LIFEBOAT_MIRROR)`);
  }
  const { MirrorRepository } = await import('../mirror/repository.ts');
  return MirrorRepository.open(gitdir);
}

/** A client for the plan's destination cluster. */
export async function destinationOf(context: PlanContext): Promise<KubeClient> {
  if ('error' in context.destination) throw new Error(context.destination.error);
  const [{ KubeClient }, { kubeConfigOf }] = await Promise.all([import('../kube/client.ts'), import('../runtime/plans.ts')]);
  return KubeClient.create(kubeConfigOf(context.destination));
}

/**
 * Redis at `url`, in the database it names: a database Redis does not have is an error here, where ioredis would
 * log it and go on in database 0, showing another database's state as if it were the one asked for.
 */
export async function connectState(url: string): Promise<StateStore> {
  const { StateStore } = await import('../state/state.ts');
  const state = await StateStore.connect(url);
  const database = redisDatabase(url);
  try {
    await state.selectDatabase(database);
  } catch (error) {
    await state.close();
    throw new Error(`--redis ${url}: Redis has no database ${database} (${(error as Error).message.replace(/^ERR /, '')})`, { cause: error });
  }
  return state;
}

/** Other databases of the same Redis that hold lifeboat plan state, when this one holds none: what a wrong --redis looks like. */
export function databasesWithPlans(state: StateStore, url: string): Promise<number[]> {
  return state.otherDatabasesWithPlans(redisDatabase(url));
}

/** Redis for a command that can do without it: when it does not answer, one warning line says what is missing. */
export function optionalState(url: string, without: string): Promise<StateStore | undefined> {
  return connectState(url).catch((error: Error) => {
    process.stderr.write(`warning: ${error.message}; ${without}\n`);
    return undefined;
  });
}

/** NATS for a command that can do without it, like `optionalState`. */
export function optionalBus(url: string, without: string): Promise<Bus | undefined> {
  return import('../bus/bus.ts').then(({ Bus }) => Bus.connect(url)).catch((error: Error) => {
    process.stderr.write(`warning: ${error.message}; ${without}\n`);
    return undefined;
  });
}
