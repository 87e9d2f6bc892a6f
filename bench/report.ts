// Figures for the benchmark report: percentiles, a resident-memory sampler, the machine the run happened on, and
// the plain-text table.
import fs from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';

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

/** Whole-machine CPU time (all cores, from /proc/stat), to tell a busy process from a busy machine. */
function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; undefined when it cannot be read. */
/** CPU seconds (user + system) a process has used, from /proc; undefined when it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

export interface PhaseLoad {
  /** Cores used by each sandbox component (and this process) during the phase. */
  coresByProcess: Record<string, number>;
  /** Share of the whole machine's CPU time that was busy (all processes), 0..1. */
  machineBusy: number | undefined;
  /** CPU seconds this process used (user + system). */
  processCpuSeconds: number;
  /** Share of one core this process used. */
  processCores: number;
  /** Event-loop delay of this process (ms): how long ready callbacks waited. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

/** Measures one phase: machine CPU, this process's CPU, and its event-loop delay. */
export class PhaseMeter {
  private readonly histogram: ELDHistogram;
  private readonly machine = machineCpu();
  private readonly cpu = process.cpuUsage();
  private readonly started = performance.now();
  private readonly processes: Record<string, number>;
  private readonly processStart: Record<string, number | undefined>;

  /** `processes`: name → pid of other processes to account for (the sandbox's components). */
  constructor(processes: Record<string, number> = {}) {
    this.processes = { ...processes, 'bench+lifeboat': process.pid };
    this.processStart = Object.fromEntries(Object.entries(this.processes).map(([name, pid]) => [name, cpuSecondsOf(pid)]));
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
  }

  stop(): PhaseLoad {
    this.histogram.disable();
    const machine = machineCpu();
    const used = process.cpuUsage(this.cpu);
    const seconds = (performance.now() - this.started) / 1000;
    const processCpuSeconds = (used.user + used.system) / 1e6;
    const ms = (nanoseconds: number) => Math.round(nanoseconds / 1e5) / 10;
    const coresByProcess: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.processes)) {
      const [before, after] = [this.processStart[name], cpuSecondsOf(pid)];
      if (before !== undefined && after !== undefined && seconds > 0) coresByProcess[name] = Math.round(((after - before) / seconds) * 100) / 100;
    }
    return {
      coresByProcess,
      machineBusy: this.machine && machine && machine.total > this.machine.total ? (machine.busy - this.machine.busy) / (machine.total - this.machine.total) : undefined,
      processCpuSeconds, processCores: seconds > 0 ? processCpuSeconds / seconds : 0,
      eventLoopDelayMs: { p50: ms(this.histogram.percentile(50)), p99: ms(this.histogram.percentile(99)), max: ms(this.histogram.max) },
    };
  }
}
