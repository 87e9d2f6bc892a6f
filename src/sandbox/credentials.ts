// The sandbox's NATS and Redis run with authentication, as an installation must: random passwords generated once
// per sandbox (credentials.json, mode 0600), a NATS user per component with the subject permissions of
// bus/permissions.ts, and Redis ACL users (the default user off). A client without these credentials gets nothing.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { busComponents, permissionsOf, type BusComponent } from '../bus/permissions.ts';
import { writeFileAtomic } from '../util/file.ts';

/** The Redis users: `lifeboat` (every command lifeboat runs, on its own keys) and `status` (read-only, for dashboards). */
export const redisUsers = ['lifeboat', 'status'] as const;
export type RedisUser = (typeof redisUsers)[number];

export interface SandboxCredentials {
  nats: Record<BusComponent, string>;
  redis: Record<RedisUser, string>;
}

const credentialsFile = (dir: string) => path.join(dir, 'credentials.json');

/** NATS user names: `lifeboat` for `lifeboat run`, `lifeboat-<component>` for a component run on its own. */
export function natsUserName(component: BusComponent): string {
  return component === 'lifeboat' ? 'lifeboat' : `lifeboat-${component}`;
}

export function redisUserName(user: RedisUser): string {
  return user === 'lifeboat' ? 'lifeboat' : `lifeboat-${user}`;
}

/** The sandbox's credentials, or undefined for a sandbox made before it had any (it runs without authentication). */
export function readCredentials(dir: string): SandboxCredentials | undefined {
  try {
    return JSON.parse(fs.readFileSync(credentialsFile(dir), 'utf8')) as SandboxCredentials;
  } catch {
    return undefined;
  }
}

/** The sandbox's credentials, generated on first use: URL-safe random passwords, readable only by their owner. */
export function ensureCredentials(dir: string): SandboxCredentials {
  const existing = readCredentials(dir);
  if (existing) return existing;
  const password = () => randomBytes(24).toString('base64url');
  const credentials: SandboxCredentials = {
    nats: Object.fromEntries(busComponents.map((component) => [component, password()])) as Record<BusComponent, string>,
    redis: Object.fromEntries(redisUsers.map((user) => [user, password()])) as Record<RedisUser, string>,
  };
  writeFileAtomic(credentialsFile(dir), JSON.stringify(credentials, null, 2), 0o600);
  return credentials;
}

/** nats-server's `authorization` block (JSON is valid NATS configuration): one user per component and its subjects. */
export function natsAuthorization(credentials: SandboxCredentials): string {
  const users = busComponents.map((component) => {
    const { publish, subscribe } = permissionsOf(component);
    return { user: natsUserName(component), password: credentials.nats[component], permissions: { publish: { allow: publish }, subscribe: { allow: subscribe } } };
  });
  return `${JSON.stringify({ authorization: { users } }, null, 2)}\n`;
}

/**
 * redis-server's ACL file. `lifeboat` may run the data, transaction and scripting commands on `lifeboat:*` keys
 * (INFO included: ioredis checks readiness, status finds other databases; never KEYS, which blocks Redis) but nothing dangerous (FLUSHALL, CONFIG,
 * DEBUG, …); `lifeboat-status` may only read them. Passwords are stored as SHA-256, as Redis allows.
 */
export function redisAcl(credentials: SandboxCredentials): string {
  const hash = (password: string) => `#${createHash('sha256').update(password).digest('hex')}`;
  const rules: Record<RedisUser, string> = {
    lifeboat: '-@all +@connection +@read +@write +@keyspace +@string +@hash +@set +@sortedset +@list +@transaction +@scripting -@dangerous +info',
    status: '-@all +@connection +@read -@dangerous +info',
  };
  return [
    'user default off resetpass -@all',
    ...redisUsers.map((user) => `user ${redisUserName(user)} on resetpass ${hash(credentials.redis[user])} resetkeys ~lifeboat:* resetchannels ${rules[user]}`),
  ].join('\n') + '\n';
}

/** A server URL with a user and password in it: scheme://user:password@host:port. */
export function urlWith(scheme: 'nats' | 'redis', port: number, user: string, password: string | undefined): string {
  return password === undefined ? `${scheme}://127.0.0.1:${port}` : `${scheme}://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
}
