// Diagnostics: wall time spent in chosen async methods of the pipeline's parts (the mirror, the state store, the
// bus, the synchronizer), by wrapping them on their instances. Only the benchmark's own instances are touched; the
// wrapped methods behave exactly as before. Durations overlap when calls run concurrently, so a total can exceed
// the phase's length: compare counts and percentiles, not sums, across concurrent methods.
import { performance } from 'node:perf_hooks';
import { distribution, type Distribution } from './report.ts';

type AnyAsync = (...args: unknown[]) => unknown;

export interface MethodTiming extends Distribution {
  totalMs: number;
}

export class MethodTimer {
  private samples = new Map<string, number[]>();
  private readonly wrapped = new WeakMap<object, Set<string>>();

  /** Wraps `target[method]`; `name` may depend on the call's arguments. Answers false when there is no such method. */
  wrap(target: object, method: string, name: string | ((args: unknown[]) => string)): boolean {
    const record = target as Record<string, unknown>;
    const original = record[method];
    if (typeof original !== 'function') return false;
    const done = this.wrapped.get(target) ?? new Set<string>();
    if (done.has(method)) return true;
    done.add(method);
    this.wrapped.set(target, done);
    const samples = () => this.samples;
    record[method] = function (this: unknown, ...args: unknown[]) {
      const started = performance.now();
      const key = typeof name === 'string' ? name : name(args);
      const finish = () => {
        const list = samples().get(key) ?? [];
        list.push(performance.now() - started);
        samples().set(key, list);
      };
      const result = (original as AnyAsync).apply(this, args);
      if (result instanceof Promise) return result.finally(finish);
      finish();
      return result;
    };
    return true;
  }

  /** Starts a new phase: forgets every sample so far. */
  reset(): void {
    this.samples = new Map();
  }

  summary(): Record<string, MethodTiming> {
    return Object.fromEntries([...this.samples].sort((a, b) => a[0].localeCompare(b[0])).map(([key, values]) => [key, {
      ...distribution(values), totalMs: Math.round(values.reduce((sum, value) => sum + value, 0)),
    }]));
  }
}
