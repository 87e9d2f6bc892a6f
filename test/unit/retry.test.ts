// The retry policy's waits: exponential with full jitter, capped, never shorter than the server's Retry-After.
import test from 'ava';
import { KubeError, isRetryable, retryDelay } from '../../src/kube/client.ts';

const refused = new KubeError('GET /api: connect ECONNREFUSED', 0, 'ECONNREFUSED');

test('waits double from 0.2 s up to 5 s, jittered within the upper half', (t) => {
  const lowest = (attempt: number) => retryDelay(attempt, refused, () => 0);
  const highest = (attempt: number) => retryDelay(attempt, refused, () => 1);
  t.deepEqual([1, 2, 3, 4, 5, 6, 7, 10].map(highest), [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  t.deepEqual([1, 2, 3].map(lowest), [100, 200, 400]);
});

test('a Retry-After longer than the backoff is honoured', (t) => {
  const throttled = new KubeError('GET /apis/x: 429 storage is (re)initializing', 429, 'TooManyRequests', undefined, 1000);
  t.is(retryDelay(1, throttled, () => 1), 1000);
  t.is(retryDelay(8, throttled, () => 1), 5000);
});

test('retryable: throttling, server errors, transport failures; not answers that waiting cannot change', (t) => {
  for (const code of [0, 429, 500, 503, 504]) t.true(isRetryable(new KubeError('x', code, 'r')), String(code));
  for (const code of [400, 401, 403, 404, 409, 410, 422]) t.false(isRetryable(new KubeError('x', code, 'r')), String(code));
  t.false(isRetryable(new Error('not a request')));
});
