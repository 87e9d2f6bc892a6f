// Nobody without lifeboat's credentials reaches the bus or the state. On the sandbox's real nats-server and
// redis-server (which run with users and permissions): a raw NATS PUB of a forged object is refused and never
// reaches the mirror or the stand-by; a component may publish only its own stage's subjects; Redis refuses clients
// without a user, and its read-only user only reads; the Secret hash key is not in Redis; no password is printed.
import test from 'ava';
import { Redis } from 'ioredis';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { stringify } from 'yaml';
import { Bus, natsServers, streams, subjectFor } from '../../src/bus/bus.ts';
import { natsUserName, readCredentials, redisUserName, urlWith, type RedisUser } from '../../src/sandbox/credentials.ts';
import { readState } from '../../src/sandbox/sandbox.ts';
import { defaultHashKeyFile } from '../../src/pipeline/hash-key.ts';
import { StateStore } from '../../src/state/state.ts';
import type { BusComponent } from '../../src/bus/permissions.ts';
import { configMap, createNamespace, demoRecipient, eventually, get, pipeline, type PipelineHandle } from '../helpers/pipeline.ts';
import { sandbox, uniqueName } from '../helpers/sandbox.ts';

const run = promisify(execFile);
const cli = new URL('../../bin/lifeboat.js', import.meta.url).pathname;

const handles: PipelineHandle[] = [];
test.after.always(async () => {
  await Promise.all(handles.map((handle) => handle.close()));
});

/** The sandbox's ports and credentials (it must run with authentication). */
async function servers() {
  const info = await sandbox();
  const state = readState(info.dir)!;
  const credentials = readCredentials(info.dir);
  if (!credentials || !state.nats.auth || !state.redis.auth) throw new Error(`the sandbox in ${info.dir} runs without authentication: run \`lifeboat sandbox up\` once with this version`);
  return {
    info, credentials, natsPort: state.nats.client, redisPort: state.redis.port,
    natsUrlAs: (component: BusComponent, password = credentials.nats[component]) => urlWith('nats', state.nats.client, natsUserName(component), password),
    redisUrlAs: (user: RedisUser, password = credentials.redis[user]) => urlWith('redis', state.redis.port, redisUserName(user), password),
  };
}

/** What a NATS server answers a raw client that connects without credentials and publishes `payload` to `subject`. */
function rawPublish(port: number, subject: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (data) => {
      answer += data.toString();
      if (answer.startsWith('INFO') && !answer.includes('CONNECT_SENT')) {
        answer += 'CONNECT_SENT\n';
        socket.write(`CONNECT {"verbose":false,"pedantic":false,"name":"intruder"}\r\nPUB ${subject} ${Buffer.byteLength(payload)}\r\n${payload}\r\nPING\r\n`);
      }
      if (/-ERR|PONG/.test(answer)) socket.end();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** What a Redis server answers `commands` (raw RESP) once it sent `replies` lines. */
function rawRedis(port: number, commands: string, replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy());
    socket.once('connect', () => socket.write(commands));
    socket.on('data', (data) => {
      answer += data.toString();
      if (answer.split('\r\n').length > replies) socket.end();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('a raw NATS PUB of a forged ConfigMap without credentials is refused: it reaches neither the mirror nor the stand-by', async (t) => {
  const { natsPort } = await servers();
  const ns = uniqueName('forged');
  const handle = await pipeline({ secrets: { mode: 'exclude' }, resources: { include: [{ namespaces: [ns] }] } });
  handles.push(handle);
  await createNamespace(handle.source, ns);
  await handle.start();
  const forged = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'forged', namespace: ns }, data: { evil: 'yes' } };
  const message = {
    type: 'object.changed', plan: handle.plan, path: `${handle.plan}/namespaces/${ns}/ConfigMap/forged.yaml`, content: stringify(forged),
    summary: `ConfigMap ${ns}/forged`, observedAt: Date.now(),
  };
  const answer = await rawPublish(natsPort, subjectFor('objects', handle.plan), JSON.stringify(message));

  // The pipeline itself still works: a real change arrives; the forged object never does.
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap('real', { k: 'v' }));
  await eventually('the real ConfigMap at the stand-by', () => get(handle.destination, `/api/v1/namespaces/${ns}/configmaps/real`), (cm) => cm !== undefined, 60_000);
  t.is(await get(handle.destination, `/api/v1/namespaces/${ns}/configmaps/forged`), undefined);
  const files = await handle.mirror.files(await handle.mirror.head(), handle.plan);
  t.deepEqual([...files.keys()].filter((file) => file.includes('/ConfigMap/')), [`${handle.plan}/namespaces/${ns}/ConfigMap/real.yaml`]);
  t.regex(answer, /-ERR 'Authorization Violation'/);
});

test('NATS refuses a client without credentials or with a wrong password, in one line without the password', async (t) => {
  const { natsPort, natsUrlAs } = await servers();
  await t.throwsAsync(connect({ servers: `127.0.0.1:${natsPort}`, reconnect: false }), { message: /Authorization Violation/i });
  const wrong = natsUrlAs('lifeboat', 'not-the-password-0123');
  const error = await t.throwsAsync(Bus.connect(wrong));
  t.is(error.message, `NATS at nats://lifeboat:***@127.0.0.1:${natsPort} refused lifeboat's credentials: ${(error.cause as Error).message} (give the user and password in --nats or LIFEBOAT_NATS_URL: nats://USER:PASSWORD@HOST:PORT)`);
  t.false(error.message.includes('not-the-password-0123'));
});

test('each component may publish only its own stage: the listener source events, never objects or commits', async (t) => {
  const { natsUrlAs } = await servers();
  const plan = uniqueName('perm');
  // Streams exist once lifeboat's user connected (any test, or this one).
  const lifeboat = await Bus.connect(natsUrlAs('lifeboat'));
  const connectAs = (component: BusComponent) => connect({ ...natsServers(natsUrlAs(component)), reconnect: false });
  const listener = await connectAs('listener');
  const processor = await connectAs('processor');
  try {
    const js = jetstream(listener);
    const ack = await js.publish(subjectFor('events', plan), JSON.stringify({ type: 'test' }), { msgID: `${plan}:1` });
    t.is(ack.stream, streams.events.name);
    for (const stream of ['objects', 'commits'] as const) {
      await t.throwsAsync(js.publish(subjectFor(stream, plan), JSON.stringify({ type: 'forged' }), { timeout: 3000 }), undefined, `the listener publishing ${stream}`);
    }
    // The processor publishes objects but no commits, and reads events but never commits.
    const processorJs = jetstream(processor);
    t.is((await processorJs.publish(subjectFor('objects', plan), JSON.stringify({ type: 'test' }), { msgID: `${plan}:2` })).stream, streams.objects.name);
    await t.throwsAsync(processorJs.publish(subjectFor('commits', plan), JSON.stringify({ type: 'forged' }), { timeout: 3000 }));
    await t.throwsAsync(processorJs.consumers.get(streams.commits.name, 'synchronizer'));
    // Nothing forged arrived: each stream holds only what its own stage published.
    for (const [stream, expected] of [['objects', 1], ['commits', 0]] as const) {
      const info = await lifeboat.jsm.streams.info(streams[stream].name, { subjects_filter: subjectFor(stream, plan) });
      t.is(Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0), expected, stream);
    }
  } finally {
    await listener.close();
    await processor.close();
    await lifeboat.removePlan(plan);
    await lifeboat.close();
  }
});

test('Redis refuses a client without a user; lifeboat\'s user only has lifeboat\'s keys and no dangerous commands; the status user only reads', async (t) => {
  const { redisPort, redisUrlAs } = await servers();
  // A raw client, as an intruder would: no AUTH, or AUTH as the default user.
  const answer = await rawRedis(redisPort, 'GET lifeboat:any:status\r\nAUTH default anything\r\n', 2);
  t.regex(answer, /^-NOAUTH Authentication required\.\r\n-WRONGPASS /);

  const plan = uniqueName('acl');
  const key = `lifeboat:${plan}:status`;
  const lifeboat = new Redis(redisUrlAs('lifeboat'));
  const status = new Redis(redisUrlAs('status'));
  const lifeboatState = await StateStore.connect(redisUrlAs('lifeboat'));
  const statusState = await StateStore.connect(redisUrlAs('status'));
  try {
    await lifeboatState.savePlanStatus(plan, { plan: 'x' });
    await t.throwsAsync(lifeboat.set('other:key', 'v'), { message: /^NOPERM/ });
    await t.throwsAsync(lifeboat.flushall(), { message: /^NOPERM/ });
    // KEYS blocks Redis while it walks the keyspace: nobody may run it (plans are listed from an index set).
    await t.throwsAsync(lifeboat.keys('lifeboat:*'), { message: /^NOPERM/ });
    t.deepEqual(await statusState.planStatuses(new Set([plan])), [{ plan: 'x' }]);
    t.is(await status.get(key), '{"plan":"x"}');
    await t.throwsAsync(status.set(key, 'overwritten'), { message: /^NOPERM/ });
    await t.throwsAsync(status.del(key), { message: /^NOPERM/ });
  } finally {
    await lifeboatState.forget(plan);
    await lifeboatState.close();
    await statusState.close();
    lifeboat.disconnect();
    status.disconnect();
  }
  const wrong = redisUrlAs('lifeboat', 'not-the-password-0123');
  const error = await t.throwsAsync(StateStore.connect(wrong));
  t.regex(error.message, new RegExp(`^Redis at redis://lifeboat:\\*\\*\\*@127\\.0\\.0\\.1:${redisPort} refused lifeboat's credentials: WRONGPASS`));
  t.false(error.message.includes('not-the-password-0123'));
});

test('lifeboat status as the read-only user; a wrong password is one line without it, exit 1', async (t) => {
  const { redisUrlAs } = await servers();
  const ok = await run(process.execPath, [cli, 'status', '--redis', redisUrlAs('status'), '-o', 'json']);
  t.notThrows(() => JSON.parse(ok.stdout));
  const wrong = await run(process.execPath, [cli, 'status', '--redis', redisUrlAs('status', 'not-the-password-0123')]).then(() => undefined, (error: { code: number; stderr: string }) => error);
  t.is(wrong?.code, 1);
  t.regex(wrong!.stderr, /^lifeboat: Redis at redis:\/\/lifeboat-status:\*\*\*@127\.0\.0\.1:\d+ refused lifeboat's credentials: WRONGPASS [^\n]*\n$/);
  t.false(wrong!.stderr.includes('not-the-password-0123'));
});

test('the Secret hash key is not in Redis: it sits beside the mirror, readable only by its owner', async (t) => {
  await servers();
  const ns = uniqueName('hashkey');
  const handle = await pipeline({ secrets: { mode: 'encrypt', recipients: [demoRecipient] }, resources: { include: [{ namespaces: [ns] }] } });
  handles.push(handle);
  await createNamespace(handle.source, ns);
  await handle.source.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'hunter2-hunter2' } });
  await handle.start();
  await eventually('the Secret at the stand-by', () => get(handle.destination, `/api/v1/namespaces/${ns}/secrets/db`), (secret) => secret !== undefined, 60_000);
  t.is(await handle.state.legacyHashKey.read(), undefined);
  const file = defaultHashKeyFile(handle.mirror.gitdir);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.true(fs.readFileSync(file, 'utf8').trim().length >= 32);
});
