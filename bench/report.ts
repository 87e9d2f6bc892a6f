// Figures for the benchmark report: percentiles, a resident-memory sampler, the machine the run happened on, and
// the plain-text table.
import os from 'node:os';

/** The q-quantile (0..1) by nearest rank; Infinity entries (never observed) sort last. Undefined when empty. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export interface Distribution {
  count: number;
  p50: number | undefined;
  p90: number | undefined;
  p99: number | undefined;
  max: number | undefined;
  mean: number | undefined;
}

export function distribution(values: readonly number[]): Distribution {
  const finite = values.filter(Number.isFinite);
  return {
    count: values.length,
    p50: quantile(values, 0.5), p90: quantile(values, 0.9), p99: quantile(values, 0.99), max: quantile(values, 1),
    mean: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : undefined,
  };
}

/** Samples process.memoryUsage().rss; `mark` starts a new phase whose peak is reported separately. */
export class RssSampler {
  private readonly timer: NodeJS.Timeout;
  private phase = 'setup';
  readonly peaks: Record<string, number> = {};
  peak = 0;

  constructor(intervalMs = 250) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  sample(): number {
    const rss = process.memoryUsage().rss;
    this.peak = Math.max(this.peak, rss);
    this.peaks[this.phase] = Math.max(this.peaks[this.phase] ?? 0, rss);
    return rss;
  }

  mark(phase: string): void {
    this.sample();
    this.phase = phase;
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

export const mib = (bytes: number) => bytes / 2 ** 20;

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', totalMemoryMiB: Math.round(mib(os.totalmem())),
    loadAverage: os.loadavg(), platform: `${os.platform()} ${os.release()} ${os.arch()}`, node: process.version,
    hostname: os.hostname(),
  };
}

export interface Row {
  scenario: string;
  objects: number | undefined;
  seconds: number | undefined;
  perSecond: number | undefined;
  ratio: number | undefined;
  lagP50Ms: number | undefined;
  lagP99Ms: number | undefined;
  peakRssMiB: number | undefined;
  target: string;
  result: 'PASS' | 'FAIL' | '-';
}

const fixed = (value: number | undefined, digits: number) => value === undefined ? '-' : Number.isFinite(value) ? value.toFixed(digits) : '∞';

export function renderTable(rows: readonly Row[]): string {
  const headers = ['SCENARIO', 'OBJECTS', 'SECONDS', 'OBJECTS/S', 'RATIO', 'LAG P50 MS', 'LAG P99 MS', 'PEAK RSS MB', 'TARGET', 'RESULT'];
  const cells = rows.map((row) => [
    row.scenario, row.objects === undefined ? '-' : String(row.objects), fixed(row.seconds, 1), fixed(row.perSecond, 1), fixed(row.ratio, 2),
    fixed(row.lagP50Ms, 0), fixed(row.lagP99Ms, 0), fixed(row.peakRssMiB, 0), row.target, row.result,
  ]);
  // Numbers (and their headers) right-aligned, text left-aligned, two spaces between columns.
  const numeric = new Set([1, 2, 3, 4, 5, 6, 7]);
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}
