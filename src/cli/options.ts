// The flags every plan command shares (--plans, --mirror, --redis, --nats), defined once here with their defaults
// and environment fallbacks, and the exit codes every command keeps. A command adds them with `sharedOptions` and
// reads them, with whether a person chose each value or it is the default, through `sharedValues`.
import { type Command, Option } from 'commander';
import { quoteShort } from '../util/quote.ts';
import { parseRedisUrl, RedisUrlError, sentinelScheme } from '../state/redis-url.ts';

/** What `lifeboat` exits with. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, prerequisite: 3 } as const;

/** A command line that cannot mean anything, found after parsing (two options that exclude each other): exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const sharedFlags = {
  plans: { flags: '--plans <source>', env: 'LIFEBOAT_PLANS', default: 'plans', description: 'the plans: a directory, a bare repository PATH[#branch][:subdir], or https://host/repo[#branch][:subdir] (token: $LIFEBOAT_PLANS_TOKEN)' },
  mirror: { flags: '--mirror <dir>', env: 'LIFEBOAT_MIRROR', default: '.lifeboat/mirror.git', description: 'the mirror: a bare git repository (only run creates it)' },
  redis: { flags: '--redis <url>', env: 'LIFEBOAT_REDIS_URL', default: 'redis://127.0.0.1:6379', description: 'Redis: synchronization state (with Sentinel: redis+sentinel://[USER:PASSWORD@]HOST:PORT,HOST:PORT,…/MASTER[/DB])' },
  nats: { flags: '--nats <url>', env: 'LIFEBOAT_NATS_URL', default: 'nats://127.0.0.1:4222', description: 'NATS with JetStream: the pipeline\'s streams' },
} as const;

export type SharedName = keyof typeof sharedFlags;

export interface SharedValues {
  plans: string;
  mirror: string;
  redis: string;
  nats: string;
  /** Whether each value was given (flag or environment variable) rather than left at its default. */
  explicit: Record<SharedName, boolean>;
}

/**
 * Adds --plans, --mirror, --redis and --nats (or only `names`) to a command: the same flags, defaults and variables
 * everywhere.
 */
export function sharedOptions(command: Command, names: readonly SharedName[] = Object.keys(sharedFlags) as SharedName[]): Command {
  for (const name of names) {
    const flag = sharedFlags[name];
    command.addOption(new Option(flag.flags, flag.description).env(flag.env).default(flag.default));
  }
  return command.addHelpText('after', '\nShared options, revisions and exit codes: lifeboat --help');
}

/** The URL schemes each server option takes. */
const serverSchemes = { redis: ['redis:', 'rediss:'], nats: ['nats:', 'tls:', 'ws:', 'wss:'] } as const;

/** Why `value` is not a URL for --redis or --nats, or undefined. Pure: the command line is checked before any connection. */
export function serverUrlProblem(name: 'redis' | 'nats', value: string): string | undefined {
  const example = name === 'redis' ? 'redis://127.0.0.1:6379 or redis://host:6379/2 for database 2' : 'nats://127.0.0.1:4222';
  if (name === 'redis' && value.toLowerCase().startsWith(sentinelScheme)) {
    try {
      parseRedisUrl(value);
      return undefined;
    } catch (error) {
      return error instanceof RedisUrlError ? error.reason : (error as Error).message;
    }
  }
  // A NATS cluster: several servers, comma-separated, each a URL of its own.
  if (name === 'nats' && value.includes(',')) {
    for (const server of value.split(',').map((entry) => entry.trim())) {
      const problem = serverUrlProblem('nats', server);
      if (problem) return `server ${quoteShort(server)} of the list: ${problem}`;
    }
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a URL (e.g. ${example})`;
  }
  if (!(serverSchemes[name] as readonly string[]).includes(url.protocol)) return `not a ${serverSchemes[name].map((scheme) => `${scheme}//`).join(' or ')} URL (e.g. ${example})`;
  if (!url.hostname) return `names no host (e.g. ${example})`;
  if (name === 'redis' && !/^\/?(\d+)?$/.test(url.pathname)) return `the path is a database number, not ${quoteShort(url.pathname.slice(1))} (e.g. ${example})`;
  return undefined;
}

/** The shared options' values of a command that `sharedOptions` set up. */
export function sharedValues(command: Command): SharedValues {
  const options = command.opts<Record<SharedName, string>>();
  const explicit = (name: SharedName) => {
    const source = command.getOptionValueSource(name);
    return source !== undefined && source !== 'default';
  };
  for (const name of ['redis', 'nats'] as const) {
    const problem = serverUrlProblem(name, options[name]);
    const given = command.getOptionValueSource(name) === 'env' ? `$${sharedFlags[name].env}` : `--${name}`;
    if (problem) throw new UsageError(`${given} ${quoteShort(options[name])}: ${problem}`);
  }
  return {
    plans: options.plans, mirror: options.mirror, redis: options.redis, nats: options.nats,
    explicit: { plans: explicit('plans'), mirror: explicit('mirror'), redis: explicit('redis'), nats: explicit('nats') },
  };
}

/** The program's `--help` addition: the shared options, revisions and exit codes, said once for every command. */
export const programHelp = `
Shared options: every command that works on a plan (run, status, recover, failback, drill, history, diff,
rollback, revert, resume, deletes list|approve|reject) takes the same four, with the same defaults; a flag
wins over its environment variable, which wins over the default.
  --plans <source>  $LIFEBOAT_PLANS, else plans: a directory, a bare repository PATH[#branch][:subdir], or
                    https://host/repo[#branch][:subdir]. The plan's mirror.path and clusters come from it.
                    Left at the default, a plan that ./plans lacks is read from the mirror under its own
                    name; a --plans (or $LIFEBOAT_PLANS) that is given must define the plan.
  --mirror <dir>    $LIFEBOAT_MIRROR, else .lifeboat/mirror.git: the mirror, a bare git repository (only run
                    creates it; the other commands need it to exist)
  --redis <url>     $LIFEBOAT_REDIS_URL, else redis://127.0.0.1:6379 (redis:// or rediss://; /N: database N)
  --nats <url>      $LIFEBOAT_NATS_URL, else nats://127.0.0.1:4222 (nats://, tls://, ws:// or wss://)
  Used by: run all four; status, resume, deletes list|reject --redis; failback --redis and --nats (optional:
  tells a running lifeboat at once); deletes approve --redis and --nats; history --mirror and --redis (optional: when each revision was applied); diff --mirror; rollback and revert
  --mirror, --redis and --nats (optional: tells the synchronizer at once); recover --plans, --mirror (for --to
  or --at) and --redis (optional: marks the plan failed over); drill --plans and --mirror. With --plans given,
  status shows only its plans and every command refuses a plan it does not define.

Revisions are what git takes: a full or short commit id, HEAD, HEAD~N, HEAD^, a branch or a tag.
  lifeboat diff demo HEAD             what the newest revision of plan demo changed
  lifeboat diff demo HEAD~3 HEAD      everything from three revisions back to the newest (or HEAD~3..HEAD)

Exit codes: 0 ok; 1 failed (including an unknown plan or revision, a missing mirror, an unreachable server);
2 usage (unknown command or option, missing argument, options that exclude each other); 3 a prerequisite is
missing (a binary the sandbox needs, Node.js 24); 70 lifeboat run met an internal error (a bug) and exited for
its supervisor to restart it. An error is one line on stderr; LIFEBOAT_DEBUG=1 adds its stack trace.
`;
