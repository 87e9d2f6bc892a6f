// Loading a plans directory: files in, the valid clusters, plans and jobs out, with every error of every file.
// The entry point of src/plan for the CLI, the plans-from-git poller and `plan diff`.
import fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { compareErrors, maxFileBytes, parseYamlFile, Severity } from './parse.ts';
import type { PlanError, PlanFile } from './parse.ts';
import { Kind } from './schema.ts';
import type { ManagedCluster, RecoveryExecutionJob, RecoveryPlan } from './schema.ts';
import { validateDocument, validateSet } from './validate.ts';
import type { KubeconfigFile } from './validate.ts';

export type { PlanError, PlanFile } from './parse.ts';
export { formatPlanError, Severity } from './parse.ts';

/** Where an object is defined (its `metadata.name`), for messages and for resolving relative paths. */
export interface Origin {
  file: string;
  /** 0-based index of the document in the file. */
  document: number;
  line: number;
  column: number;
}

export interface PlanSet {
  /** Valid objects by name; an object with an error (of its own, or a reference to an invalid one) is left out. */
  clusters: Map<string, ManagedCluster>;
  plans: Map<string, RecoveryPlan>;
  jobs: Map<string, RecoveryExecutionJob>;
  /** Keyed by `originKey(kind, name)`, for every object in the maps. */
  origins: Map<string, Origin>;
  /** Every error and warning, sorted by file, line and column. */
  errors: PlanError[];
}

export interface LoadOptions {
  /**
   * Check that kubeconfig files exist and have the context a cluster names (warnings when not). Off by default:
   * plans read from git are checked where they run, not where they are validated. The CLI turns it on.
   */
  checkKubeconfigFiles?: boolean;
  /** Replaces the file system's existence check, for tests; files are then not read unless readFile is given too. */
  fileExists?: (path: string) => boolean;
  /** Replaces reading a kubeconfig file, for tests; an error with code ENOENT means there is no such file. */
  readFile?: (path: string) => string;
}

/**
 * The context names of a kubeconfig file's text, in file order, and its current-context; or why it is not one. The
 * problem never quotes the text: a path that names the wrong file (a key, /etc/shadow) must not print it.
 */
export function kubeconfigContexts(text: string): { contexts: string[]; currentContext: string | undefined } | { problem: string } {
  let value: unknown;
  try {
    value = parse(text, { logLevel: 'error' }) as unknown;
  } catch (error) {
    const { code, linePos } = error as { code?: string; linePos?: { line: number; col: number }[] };
    return { problem: `not YAML (${code ?? 'syntax error'}${linePos?.[0] ? ` at line ${linePos[0].line}, column ${linePos[0].col}` : ''})` };
  }
  if (value === null || value === undefined) return { problem: 'not a kubeconfig: the file is empty' };
  if (typeof value !== 'object' || Array.isArray(value)) return { problem: 'not a kubeconfig (a mapping with clusters, users and contexts)' };
  const config = value as Record<string, unknown>;
  const lacking = ['clusters', 'users', 'contexts'].filter((field) => !Array.isArray(config[field]) || (field !== 'users' && !(config[field] as unknown[]).length));
  if (lacking.length) return { problem: `not a kubeconfig: it lists no ${lacking.join(', ')}` };
  const entries = config.contexts as unknown[];
  const names = entries.flatMap((entry) => {
    const name = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).name : undefined;
    return typeof name === 'string' && name !== '' ? [name] : [];
  });
  const current = config['current-context'];
  return { contexts: [...new Set(names)], currentContext: typeof current === 'string' && current !== '' ? current : undefined };
}

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (error as Error).message;
}

/** The kubeconfig lookup for validateSet, or undefined for no check; each file is read once per load. */
function kubeconfigLookup(options: LoadOptions): ((file: string, kubeconfigPath: string) => KubeconfigFile) | undefined {
  const injected = options.fileExists !== undefined || options.readFile !== undefined;
  if (!options.checkKubeconfigFiles && !injected) return undefined;
  const fileExists = options.fileExists ?? (options.readFile ? () => true : existsSync);
  const readFile = options.readFile ?? (options.fileExists ? undefined : (file: string) => readFileSync(file, 'utf8'));
  const seen = new Map<string, KubeconfigFile>();
  const lookUp = (resolved: string): KubeconfigFile => {
    const relative = path.relative(process.cwd(), resolved);
    const shown = relative.startsWith('..') || path.isAbsolute(relative) ? resolved : relative;
    if (!fileExists(resolved)) return { type: 'missing', shown };
    if (!readFile) return { type: 'exists', shown };
    let text: string;
    try {
      text = readFile(resolved);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { type: 'missing', shown };
      return { type: 'unreadable', shown, reason: readProblem(error) };
    }
    const found = kubeconfigContexts(text);
    return 'problem' in found ? { type: 'unreadable', shown, reason: found.problem } : { type: 'read', shown, ...found };
  };
  return (file, kubeconfigPath) => {
    const resolved = resolveKubeconfigPath(file, kubeconfigPath);
    let found = seen.get(resolved);
    if (!found) seen.set(resolved, found = lookUp(resolved));
    return found;
  };
}

export function originKey(kind: Kind, name: string): string {
  return `${kind}/${name}`;
}

/** A kubeconfig path as written in a ManagedCluster, resolved against the file that defines it. */
export function resolveKubeconfigPath(definedIn: string, kubeconfigPath: string): string {
  if (kubeconfigPath === '~' || kubeconfigPath.startsWith('~/')) return path.join(os.homedir(), kubeconfigPath.slice(1));
  return path.resolve(path.dirname(definedIn), kubeconfigPath);
}

/** True when the set has errors (warnings do not count). */
export function hasErrors(set: Pick<PlanSet, 'errors'>): boolean {
  return set.errors.some((error) => error.severity === Severity.error);
}

/**
 * Parses and validates plan files as one set: all errors at once, never only the first. Files are taken in path
 * order, so "the first definition" and "the later plan" of a message do not depend on the caller's order.
 */
export function loadPlans(files: readonly PlanFile[], options: LoadOptions = {}): PlanSet {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const errors: PlanError[] = [];
  const results = sorted.flatMap((file) => {
    const parsed = parseYamlFile(file);
    errors.push(...parsed.errors);
    return parsed.documents.map(validateDocument);
  });
  validateSet(results, { kubeconfigFile: kubeconfigLookup(options) });
  const set: PlanSet = { clusters: new Map(), plans: new Map(), jobs: new Map(), origins: new Map(), errors };
  for (const result of results) {
    errors.push(...result.errors);
    const object = result.object;
    if (!object) continue;
    const name = object.metadata.name;
    const metadataName = result.source.document.getIn(['metadata', 'name'], true) as { range?: [number, number, number] } | undefined;
    const { line, col } = result.source.lineCounter.linePos(metadataName?.range?.[0] ?? 0);
    set.origins.set(originKey(object.kind, name), { file: result.source.file, document: result.source.index, line, column: col });
    switch (object.kind) {
      case Kind.managedCluster: set.clusters.set(name, object); break;
      case Kind.recoveryPlan: set.plans.set(name, object); break;
      case Kind.recoveryExecutionJob: set.jobs.set(name, object); break;
      default: {
        const unreachable: never = object;
        throw new Error(`unknown kind ${String((unreachable as { kind: unknown }).kind)}`);
      }
    }
  }
  errors.sort(compareErrors);
  return set;
}

/** One line for people: `2 plans, 2 clusters: valid` or `5 errors in 2 files`. */
export function summarize(set: PlanSet): string {
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const errorList = set.errors.filter((error) => error.severity === Severity.error);
  const warnings = set.errors.length - errorList.length;
  const warningText = warnings > 0 ? ` (${count(warnings, 'warning')})` : '';
  if (errorList.length > 0) return `${count(errorList.length, 'error')} in ${count(new Set(errorList.map((error) => error.file)).size, 'file')}${warningText}`;
  const jobs = set.jobs.size > 0 ? `, ${count(set.jobs.size, 'job')}` : '';
  return `${count(set.plans.size, 'plan')}, ${count(set.clusters.size, 'cluster')}${jobs}: valid${warningText}`;
}

/** A missing plans path; the message says which. */
export class PlanPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanPathError';
  }
}

async function walk(directory: string, found: string[]): Promise<void> {
  const entries = await fs.readdir(directory, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue; // .git and editor state
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) await walk(full, found);
    else if (entry.isFile() && /\.ya?ml$/i.test(entry.name)) found.push(full);
  }
}

/**
 * Reads plan files: each path is a file (read whatever its name) or a directory (every *.yaml and *.yml below it,
 * recursively, skipping dot-directories). Paths keep the form given, so errors name files the way the user typed.
 */
export async function readPlanFiles(paths: readonly string[]): Promise<PlanFile[]> {
  const names: string[] = [];
  for (const given of paths) {
    const stat = await fs.stat(given).catch(() => undefined);
    if (!stat) throw new PlanPathError(`${given}: no such file or directory`);
    if (stat.isDirectory()) await walk(given, names);
    else names.push(given);
  }
  const unique = [...new Set(names)].sort();
  return Promise.all(unique.map(async (file) => {
    const { size } = await fs.stat(file);
    // An oversized file is not read at all: the parser refuses it by its size.
    if (size > maxFileBytes) return { path: file, text: '', size };
    return { path: file, text: await fs.readFile(file, 'utf8') };
  }));
}
