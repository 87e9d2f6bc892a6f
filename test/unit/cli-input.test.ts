// The pure checks behind issue 14's CLI findings: restore times, server URLs, revision ranges, what failback says,
// and how a long value is quoted in a message.
import test from 'ava';
import { revisionRange } from '../../src/cli/history.ts';
import { serverUrlProblem, UsageError } from '../../src/cli/options.ts';
import { failbackConsequences } from '../../src/cli/recover.ts';
import { parseRestoreTime } from '../../src/recovery/restorer.ts';
import { quoteShort, shortened } from '../../src/util/quote.ts';

test('a restore time is an RFC 3339 date-time; anything Date.parse would also take is refused', (t) => {
  for (const [time, iso] of [
    ['2026-11-24T10:00:00Z', '2026-11-24T10:00:00.000Z'],
    ['2026-11-24T10:00:00.5+02:00', '2026-11-24T08:00:00.500Z'],
    ['2026-11-24t10:00:00z', '2026-11-24T10:00:00.000Z'],
  ] as const) t.is(new Date(parseRestoreTime(time)).toISOString(), iso, time);
  for (const time of ['2026', '2026-11-24', 'May 1, 2026', '2026-13-01T00:00:00Z', '2026-11-24T25:00:00Z', '2026-11-24 10:00:00', '2026-11-24T10:00:00', 'yesterday', '']) {
    t.throws(() => parseRestoreTime(time), { message: `--at ${JSON.stringify(time)}: not an RFC 3339 time (e.g. 2026-11-24T10:00:00Z)` }, time);
  }
  t.throws(() => parseRestoreTime(`2026-11-24T10:00:00Z${'x'.repeat(20_000)}`), { message: /^--at "2026-11-24T10:00:00Zx+…x+" \(20020 characters\): not an RFC 3339 time/ });
});

test('--redis and --nats take URLs of their own schemes; a Redis URL\'s path is a database number', (t) => {
  for (const url of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/2', 'rediss://user:secret@redis.example.com:6380/0']) t.is(serverUrlProblem('redis', url), undefined, url);
  for (const url of ['nats://127.0.0.1:4222', 'tls://nats.example.com:4222', 'wss://nats.example.com']) t.is(serverUrlProblem('nats', url), undefined, url);
  t.is(serverUrlProblem('nats', 'nats://u:p@127.0.0.1:4222,nats://u:p@127.0.0.1:4223, nats://u:p@127.0.0.1:4224'), undefined);
  t.regex(serverUrlProblem('nats', 'nats://127.0.0.1:4222,127.0.0.1:4223') ?? '', /^server "127\.0\.0\.1:4223" of the list: not a URL/);
  for (const url of ['redis+sentinel://a:26379,b:26379,c:26379/lifeboat', 'redis+sentinel://u:p@a:1/m/2']) t.is(serverUrlProblem('redis', url), undefined, url);
  t.regex(serverUrlProblem('redis', 'redis+sentinel://a:1,b:2') ?? '', /^no master name after the addresses \(expected redis\+sentinel:/);
  t.regex(serverUrlProblem('redis', 'not a url')!, /^not a URL \(e\.g\. redis:/);
  t.regex(serverUrlProblem('redis', 'localhost:6379')!, /^not a redis:\/\/ or rediss:\/\/ URL/);
  t.regex(serverUrlProblem('redis', 'nats://127.0.0.1:4222')!, /^not a redis:\/\/ or rediss:\/\/ URL/);
  t.regex(serverUrlProblem('redis', 'redis://127.0.0.1:6379/x')!, /^the path is a database number, not "x"/);
  t.regex(serverUrlProblem('redis', 'redis://127.0.0.1:6379/2/3')!, /^the path is a database number, not "2\/3"/);
  t.regex(serverUrlProblem('nats', 'redis://127.0.0.1:6379')!, /^not a nats:\/\/ or tls:\/\/ or ws:\/\/ or wss:\/\/ URL/);
});

test('diff revisions: A B, or git\'s range A..B with HEAD for an empty side', (t) => {
  t.deepEqual(revisionRange('HEAD', undefined), { start: 'HEAD', end: undefined });
  t.deepEqual(revisionRange('HEAD~3', 'HEAD'), { start: 'HEAD~3', end: 'HEAD' });
  t.deepEqual(revisionRange('HEAD~3..HEAD', undefined), { start: 'HEAD~3', end: 'HEAD' });
  t.deepEqual(revisionRange('3f2a9c1..v2', undefined), { start: '3f2a9c1', end: 'v2' });
  t.deepEqual(revisionRange('HEAD~2..', undefined), { start: 'HEAD~2', end: 'HEAD' });
  t.deepEqual(revisionRange('..HEAD~1', undefined), { start: 'HEAD', end: 'HEAD~1' });
  t.throws(() => revisionRange('A..B', 'C'), { instanceOf: UsageError, message: 'give either a range (A..B) or two revisions, not both' });
  t.throws(() => revisionRange('A...B', undefined), { instanceOf: UsageError, message: /A\.\.\.B \(from where they diverge\) is not taken/ });
});

test('failback says what replication will overwrite, by the plan\'s drift setting', (t) => {
  const correct = failbackConsequences('shop', { drift: 'correct', interval: '5m' });
  t.regex(correct, /^Replication to the stand-by restarts: the synchronizer applies every mirror revision made since the failover/);
  t.regex(correct, /next reconcile \(within reconcile\.interval, 5m\) also makes every object labelled lifeboat\.dev\/plan=shop equal to the mirror: changes made at the stand-by since the failover are overwritten, activated workloads go back to their deactivated replicas/);
  t.regex(correct, /labelled objects the mirror lacks are deleted\. Objects without the label are never touched\.$/);
  const detect = failbackConsequences('shop', { drift: 'detect', interval: '5m' });
  t.regex(detect, /reported as drift, not overwritten: activated workloads stay up until a mirror revision changes them/);
  t.notRegex(detect, /deleted/);
});

test('a long value in a message is cut in the middle, with the length it had', (t) => {
  t.is(quoteShort('HEAD~1'), '"HEAD~1"');
  t.is(shortened('/spec/replicas'), '/spec/replicas');
  const long = `a${'b'.repeat(10_000)}c`;
  t.is(quoteShort(long), `"a${'b'.repeat(38)}…${'b'.repeat(38)}c" (10002 characters)`);
  t.is(shortened(long, 9), 'abbb…bbbc (10002 characters)');
  t.is(quoteShort(long).length, 100, "at most 100 characters, whatever the length of the value");
});
