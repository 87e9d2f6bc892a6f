// Where Lifeboat's Redis is: one server (`redis://[USER:PASSWORD@]HOST:PORT[/DB]`, ioredis reads it as is) or a
// primary found through Redis Sentinel (`redis+sentinel://[USER:PASSWORD@]HOST:PORT,HOST:PORT,…/MASTER[/DB]`), which
// ioredis asks for the current primary and asks again after a failover. Pure: parsing only, no connection.
import type { RedisOptions } from 'ioredis';
import { redactUrl } from '../util/redact.ts';

/** How to reach Redis: a URL ioredis takes as it is, or the sentinels and the primary's name. */
export type RedisTarget =
  | { type: 'server'; url: string }
  | { type: 'sentinel'; options: Pick<RedisOptions, 'sentinels' | 'name' | 'username' | 'password' | 'sentinelUsername' | 'sentinelPassword' | 'db'> };

export const sentinelScheme = 'redis+sentinel:';
const sentinelForm = 'redis+sentinel://[USER:PASSWORD@]HOST:PORT,HOST:PORT,…/MASTER[/DB][?sentinelPassword=…]';

export class RedisUrlError extends Error {
  /** What is wrong, and the expected form, without the URL (for a caller that names it already). */
  readonly reason: string;
  constructor(message: string, reason: string) {
    super(message);
    this.name = 'RedisUrlError';
    this.reason = reason;
  }
}

/**
 * Reads a Redis URL. The user and password of a sentinel URL are the primary's (and its replicas'); sentinels that
 * require a password of their own get it as `?sentinelPassword=` (and `sentinelUsername=`). A malformed sentinel URL
 * is a RedisUrlError naming the form.
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (!url.toLowerCase().startsWith(`${sentinelScheme}//`)) return { type: 'server', url };
  const bad = (why: string) => new RedisUrlError(`malformed Redis Sentinel URL ${redactPassword(url)}: ${why} (expected ${sentinelForm})`, `${why} (expected ${sentinelForm})`);
  const rest = url.slice(sentinelScheme.length + 2);
  const [beforeQuery, query = ''] = splitOnce(rest, '?');
  const [authority, pathPart = ''] = splitOnce(beforeQuery, '/');
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const hosts = at >= 0 ? authority.slice(at + 1) : authority;
  if (!hosts) throw bad('no sentinel addresses');
  const sentinels = hosts.split(',').map((entry) => {
    const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(entry.trim());
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) throw bad(`sentinel address "${entry}" is not HOST:PORT`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const segments = pathPart.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) throw bad('no master name after the addresses');
  if (segments.length > 2) throw bad(`"/${pathPart}" is more than /MASTER/DB`);
  const name = decode(segments[0]!, bad);
  let db: number | undefined;
  if (segments[1] !== undefined) {
    if (!/^\d+$/.test(segments[1])) throw bad(`database "${segments[1]}" is not a number`);
    db = Number(segments[1]);
  }
  const params = new URLSearchParams(query);
  for (const key of params.keys()) if (key !== 'sentinelPassword' && key !== 'sentinelUsername') throw bad(`unknown parameter "${key}"`);
  const [user, password] = userinfo === undefined ? [undefined, undefined] : splitOnce(userinfo, ':');
  return {
    type: 'sentinel',
    options: {
      sentinels, name,
      ...(user ? { username: decode(user, bad) } : {}),
      ...(password !== undefined ? { password: decode(password, bad) } : {}),
      ...(params.has('sentinelUsername') ? { sentinelUsername: params.get('sentinelUsername')! } : {}),
      ...(params.has('sentinelPassword') ? { sentinelPassword: params.get('sentinelPassword')! } : {}),
      ...(db !== undefined ? { db } : {}),
    },
  };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const index = text.indexOf(separator);
  return index < 0 ? [text, undefined] : [text.slice(0, index), text.slice(index + 1)];
}

function decode(text: string, bad: (why: string) => Error): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw bad(`"${text}" is not percent-encoded correctly`);
  }
}

/** The URL with its passwords masked, for messages: the user's and the sentinels'. */
export function redactPassword(url: string): string {
  return redactUrl(url).replace(/(sentinelPassword=)[^&]*/, '$1***');
}

/** The database a Redis URL names (0 when none). */
export function redisDatabase(url: string): number {
  const target = parseRedisUrl(url);
  return target.type === 'sentinel' ? target.options.db ?? 0 : Number(new URL(url).pathname.slice(1) || 0);
}

/** The same URL naming another database. */
export function withDatabase(url: string, database: number): string {
  const target = parseRedisUrl(url);
  if (target.type === 'server') {
    const changed = new URL(url);
    changed.pathname = `/${database}`;
    return changed.href;
  }
  const [beforeQuery, query] = splitOnce(url, '?');
  const withoutDatabase = target.options.db === undefined ? beforeQuery.replace(/\/$/, '') : beforeQuery.replace(/\/\d+\/?$/, '');
  return `${withoutDatabase}/${database}${query === undefined ? '' : `?${query}`}`;
}
