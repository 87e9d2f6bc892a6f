// Where plans come from: a working tree (`--plans DIR`), a local bare repository, or a remote repository over
// HTTP(S) (`--plans URL[#branch][:subdir]`, token from an environment variable), read through isomorphic-git.
// A source answers one question: "what are the plan files at the newest revision?" — the watcher decides what
// a new revision means.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isoGit } from '../util/git.ts';


export interface PlanFile {
  /** Path as shown in messages: relative to the working directory for a tree, `<subdir>/<file>` in a repository. */
  path: string;
  text: string;
}

export interface PlanSnapshot {
  /** The plans-repo commit id, or `worktree:<content hash>` for a directory that is not read through git. */
  revision: string;
  files: PlanFile[];
}

export interface PlanSource {
  readonly description: string;
  snapshot(): Promise<PlanSnapshot>;
}

export type PlanSourceSpec =
  | { type: 'directory'; dir: string }
  | { type: 'repository'; gitdir: string; branch: string | undefined; subdir: string }
  | { type: 'remote'; url: string; branch: string | undefined; subdir: string };

const planFile = /\.ya?ml$/i;

/**
 * Parses `--plans`: `DIR`, `PATH/TO/BARE.git[#branch][:subdir]`, or `https://host/repo[#branch][:subdir]`.
 * For a URL, `:subdir` is recognised after the host (a `:` in the path part); `#branch:subdir` also works.
 */
export function parsePlanSource(spec: string): PlanSourceSpec {
  let rest = spec;
  let branch: string | undefined;
  let subdir = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    const fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
    const colon = fragment.indexOf(':');
    branch = (colon >= 0 ? fragment.slice(0, colon) : fragment) || undefined;
    if (colon >= 0) subdir = fragment.slice(colon + 1);
  }
  const remote = /^(https?:\/\/[^/]+)(\/.*)?$/.exec(rest);
  if (remote) {
    const pathPart = remote[2] ?? '/';
    const colon = pathPart.indexOf(':');
    if (colon >= 0) {
      subdir ||= pathPart.slice(colon + 1);
      rest = remote[1] + pathPart.slice(0, colon);
    }
    return { type: 'remote', url: rest, branch, subdir: trimSlashes(subdir) };
  }
  // A local path: a bare repository (has HEAD and objects/) or a repository's .git dir; otherwise a directory.
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && !fs.existsSync(rest) && isGitDir(rest.slice(0, colon))) {
    subdir ||= rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (isGitDir(rest)) return { type: 'repository', gitdir: path.resolve(rest), branch, subdir: trimSlashes(subdir) };
  if (branch !== undefined || subdir) throw new Error(`--plans ${spec}: #branch and :subdir need a git repository, but ${rest} is not one`);
  return { type: 'directory', dir: path.resolve(rest) };
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

function isGitDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'HEAD')) && fs.existsSync(path.join(dir, 'objects'));
}

export function createPlanSource(spec: PlanSourceSpec, env: NodeJS.ProcessEnv = process.env): PlanSource {
  switch (spec.type) {
    case 'directory':
      return directorySource(spec.dir);
    case 'repository':
      return repositorySource(spec.gitdir, spec.branch, spec.subdir);
    case 'remote':
      return remoteSource(spec.url, spec.branch, spec.subdir, env);
    default: {
      const unreachable: never = spec;
      throw new Error(`unknown plan source ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Reads every *.yaml / *.yml below `dir` (sorted, hidden directories skipped). */
export function readPlanDirectory(dir: string, display = (file: string) => path.relative(process.cwd(), file) || file): PlanFile[] {
  const files: PlanFile[] = [];
  const visit = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile() && planFile.test(entry.name)) files.push({ path: display(full), text: fs.readFileSync(full, 'utf8') });
    }
  };
  visit(dir);
  return files;
}

function contentRevision(files: PlanFile[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(file.path).update('\0').update(file.text).update('\0');
  return `worktree:${hash.digest('hex').slice(0, 12)}`;
}

function directorySource(dir: string): PlanSource {
  return {
    description: dir,
    async snapshot() {
      if (!fs.existsSync(dir)) throw new Error(`plans directory ${dir} does not exist`);
      const files = readPlanDirectory(dir);
      return { revision: contentRevision(files), files };
    },
  };
}

/** Reads the plan files of `subdir` in the tree of commit `oid`. */
export async function filesAtCommit(gitdir: string, oid: string, subdir: string): Promise<PlanFile[]> {
  const files: PlanFile[] = [];
  const prefix = subdir ? `${subdir}/` : '';
  const git = await isoGit();
  await git.walk({
    fs, gitdir, trees: [git.TREE({ ref: oid })],
    map: async (filepath, [entry]) => {
      if (!entry || filepath === '.') return undefined;
      const inside = filepath.startsWith(prefix) || prefix.startsWith(`${filepath}/`);
      if (!inside) return null; // prune subtrees outside subdir
      if ((await entry.type()) !== 'blob' || !filepath.startsWith(prefix) || !planFile.test(filepath)) return undefined;
      const content = await entry.content();
      if (content) files.push({ path: filepath, text: Buffer.from(content).toString('utf8') });
      return undefined;
    },
  });
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

async function headOf(gitdir: string, branch: string | undefined): Promise<string> {
  const ref = branch ? `refs/heads/${branch}` : 'HEAD';
  const git = await isoGit();
  try {
    return await git.resolveRef({ fs, gitdir, ref });
  } catch {
    throw new Error(`plans repository ${gitdir} has no ${branch ? `branch "${branch}"` : 'HEAD commit'}`);
  }
}

function repositorySource(gitdir: string, branch: string | undefined, subdir: string): PlanSource {
  return {
    description: `${gitdir}${branch ? `#${branch}` : ''}${subdir ? `:${subdir}` : ''}`,
    async snapshot() {
      const revision = await headOf(gitdir, branch);
      return { revision, files: await filesAtCommit(gitdir, revision, subdir) };
    },
  };
}

/** Fetches into a cache repository (no work tree) and reads the fetched commit's tree. */
function remoteSource(url: string, branch: string | undefined, subdir: string, env: NodeJS.ProcessEnv): PlanSource {
  const cacheRoot = env.LIFEBOAT_CACHE ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'lifeboat');
  const gitdir = path.join(cacheRoot, 'plans', createHash('sha256').update(url).digest('hex').slice(0, 16));
  const token = env.LIFEBOAT_PLANS_TOKEN;
  const onAuth = token ? () => ({ username: env.LIFEBOAT_PLANS_USERNAME ?? 'lifeboat', password: token }) : undefined;
  return {
    description: `${url}${branch ? `#${branch}` : ''}${subdir ? `:${subdir}` : ''}`,
    async snapshot() {
      const [git, { default: http }] = await Promise.all([isoGit(), import('isomorphic-git/http/node')]);
      if (!isGitDir(gitdir)) await git.init({ fs, gitdir, bare: true });
      await git.addRemote({ fs, gitdir, remote: 'origin', url, force: true });
      let result;
      try {
        result = await git.fetch({ fs, http, gitdir, remote: 'origin', ref: branch, singleBranch: true, tags: false, onAuth,
          onAuthFailure: () => ({ cancel: true }) });
      } catch (error) {
        throw new Error(`cannot fetch plans from ${url}: ${(error as Error).message}`, { cause: error });
      }
      if (!result.fetchHead) throw new Error(`plans repository ${url} has no ${branch ? `branch "${branch}"` : 'default branch'}`);
      return { revision: result.fetchHead, files: await filesAtCommit(gitdir, result.fetchHead, subdir) };
    },
  };
}
