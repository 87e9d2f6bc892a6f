// Redis URLs (src/state/redis-url.ts): a plain redis:// URL goes to ioredis as it is; a redis+sentinel:// URL becomes
// the sentinels, the primary's name, credentials and database; a malformed one is one line naming the expected form.
import test from 'ava';
import { parseRedisUrl, redisDatabase, RedisUrlError, withDatabase } from '../../src/state/redis-url.ts';

test('plain redis:// and rediss:// URLs are passed through unchanged', (t) => {
  for (const url of ['redis://127.0.0.1:6379', 'redis://lifeboat:s%40cret@10.0.0.1:6380/2', 'rediss://redis.example.com:6380']) {
    t.deepEqual(parseRedisUrl(url), { type: 'server', url });
  }
});

const sentinelCases: [string, unknown][] = [
  ['redis+sentinel://127.0.0.1:26379/mymaster', { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster' }],
  ['redis+sentinel://a:26379,b:26380,c:26381/lifeboat', {
    sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26380 }, { host: 'c', port: 26381 }], name: 'lifeboat',
  }],
  ['redis+sentinel://lifeboat:p%40ss%3Aword@a:1,b:2,c:3/lifeboat/4', {
    sentinels: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }, { host: 'c', port: 3 }], name: 'lifeboat', username: 'lifeboat', password: 'p@ss:word', db: 4,
  }],
  ['redis+sentinel://:secret@[::1]:26379/m/', { sentinels: [{ host: '::1', port: 26379 }], name: 'm', password: 'secret' }],
  ['REDIS+SENTINEL://h:1/m?sentinelPassword=x%2By&sentinelUsername=s', { sentinels: [{ host: 'h', port: 1 }], name: 'm', sentinelUsername: 's', sentinelPassword: 'x+y' }],
];

for (const [url, options] of sentinelCases) {
  test(`sentinel URL ${url}`, (t) => {
    t.deepEqual(parseRedisUrl(url), { type: 'sentinel', options });
  });
}

const malformed: [string, RegExp][] = [
  ['redis+sentinel://', /no sentinel addresses/],
  ['redis+sentinel://a:1,b:2', /no master name/],
  ['redis+sentinel://a:1,b/m', /sentinel address "b" is not HOST:PORT/],
  ['redis+sentinel://a:99999/m', /"a:99999" is not HOST:PORT/],
  ['redis+sentinel://a:1/m/x', /database "x" is not a number/],
  ['redis+sentinel://a:1/m/1/2', /more than \/MASTER\/DB/],
  ['redis+sentinel://a:1/m?password=x', /unknown parameter "password"/],
];

for (const [url, reason] of malformed) {
  test(`malformed sentinel URL ${url}: one line naming the form`, (t) => {
    const error = t.throws(() => parseRedisUrl(url), { instanceOf: RedisUrlError });
    t.regex(error.message, reason);
    t.regex(error.message, /expected redis\+sentinel:\/\/\[USER:PASSWORD@\]HOST:PORT,HOST:PORT,…\/MASTER\[\/DB\]/);
    t.false(error.message.includes('\n'));
  });
}

test('the password of a malformed URL is masked in the message', (t) => {
  const error = t.throws(() => parseRedisUrl('redis+sentinel://u:hunter2@a:1,b/m?sentinelPassword=hunter3'));
  t.false(error.message.includes('hunter2'));
  t.false(error.message.includes('hunter3'));
  t.regex(error.message, /u:\*\*\*@/);
});

test('the database of a URL, and the same URL naming another one', (t) => {
  t.is(redisDatabase('redis://h:1'), 0);
  t.is(redisDatabase('redis://h:1/3'), 3);
  t.is(redisDatabase('redis+sentinel://a:1,b:2/m'), 0);
  t.is(redisDatabase('redis+sentinel://a:1,b:2/m/5'), 5);
  t.is(withDatabase('redis://u:p@h:1/3', 1), 'redis://u:p@h:1/1');
  t.is(withDatabase('redis+sentinel://a:1,b:2/m', 2), 'redis+sentinel://a:1,b:2/m/2');
  t.is(withDatabase('redis+sentinel://a:1,b:2/m/5?sentinelPassword=x', 2), 'redis+sentinel://a:1,b:2/m/2?sentinelPassword=x');
});
