// The targets of issue 19, each a row with the figure this run measured and PASS/FAIL: `not run` when its phase did
// not run this time, `not measured` when `npm run bench` computes no such figure, `informational` for a figure shown
// beside a target that is not one itself (the cold history: what rebuilding the index costs). PASS is printed only
// for a figure measured in this run.
import type { CliMeasurement, CliResult } from './cli.ts';

export type Verdict = 'PASS' | 'FAIL' | 'not run' | 'not measured' | 'informational';

export interface TargetRow {
  target: string;
  limit: string;
  /** The figure as measured (with what it was measured on), or why there is none. */
  measured: string;
  result: Verdict;
}

/** What the targets read from a run: the phases' figures, each absent when its phase did not run. */
export interface TargetInputs {
  objects: number;
  rate: number;
  recoveryDeployments: number;
  phases: { initial: boolean; lag: boolean; recovery: boolean; cli: boolean; memory: boolean; rates: boolean; scale: boolean };
  rates?: { lifeboat: number; direct: number; maxRate: number };
  memory?: { objects: number; peakMiB: number; heapUsedMiB: number };
  /** The one round at --scale-objects: `lifeboat run` (a child process) against the ceiling, and its peak RSS. */
  scale?: { objects: number; ceilingSeconds: number; lifeboatSeconds: number; complete: boolean; peakMiB: number; placement: string;
    /** lifeboat's pinned median time at `mainObjects` (the main rounds), when they ran. */
    mainSeconds: number | undefined; mainObjects: number };
  initial?: { seconds: number; complete: boolean; processCpuSeconds: number };
  ceiling?: { seconds: number; processCpuSeconds: number };
  /** The initial-sync rounds by placement (the last one is what the rows judge: pinned when it ran). */
  placements?: PlacementFigures[];
  lagP99Ms?: number;
  recoveryRatio?: number;
  recoveryFailed?: number;
  cli?: CliResult;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The initial-sync rounds of one placement: medians and spread; CPU seconds per 1,000 objects of lifeboat (its
 * process), its engine (NATS + Redis) and the ceiling's client. */
export interface PlacementFigures {
  placement: string;
  rounds: number;
  ratio: Spread | undefined;
  lifeboatSeconds: Spread;
  ceilingSeconds: Spread | undefined;
  lifeboatCpuPer1000: Spread;
  engineCpuPer1000: Spread;
  ceilingCpuPer1000: Spread | undefined;
}

const verdict = (ok: boolean): Verdict => (ok ? 'PASS' : 'FAIL');
const spreadText = (value: Spread, digits = 2) => `${value.median.toFixed(digits)} (${value.min.toFixed(digits)}-${value.max.toFixed(digits)})`;

export function targetRows(inputs: TargetInputs): TargetRow[] {
  const rows: TargetRow[] = [];
  const { initial, ceiling, phases } = inputs;
  const judged = inputs.placements?.at(-1);
  const others = (inputs.placements ?? []).slice(0, -1).filter((figures) => figures.ratio);
  const syncRatio = judged?.ratio?.median ?? (initial && ceiling && initial.complete ? initial.seconds / ceiling.seconds : undefined);
  const initialRow = (objects: number, limit: string): TargetRow => {
    const target = `initial sync ÷ ceiling, ${objects.toLocaleString('en')} objects`;
    if (!phases.initial) return { target, limit, measured: '-', result: 'not run' };
    if (inputs.objects !== objects) return { target, limit, measured: `this run had ${inputs.objects.toLocaleString('en')} objects (--objects ${objects})`, result: 'not run' };
    if (initial && !initial.complete) return { target, limit, measured: 'initial sync timed out', result: 'FAIL' };
    if (syncRatio === undefined) return { target, limit, measured: 'no ceiling this run', result: 'not run' };
    const measured = judged?.ratio && judged.ceilingSeconds
      ? `${judged.placement} median ${spreadText(judged.ratio)} of ${judged.rounds} rounds (lifeboat ${spreadText(judged.lifeboatSeconds, 1)} s, ceiling ${spreadText(judged.ceilingSeconds, 1)} s)${others.map((figures) => `; ${figures.placement} ${spreadText(figures.ratio!)}`).join('')}`
      : `${syncRatio.toFixed(2)} (${initial!.seconds.toFixed(1)} s ÷ ${ceiling!.seconds.toFixed(1)} s, one run)`;
    return { target, limit, measured, result: verdict(syncRatio <= 1.2) };
  };
  rows.push(initialRow(5000, '≤ 1.2'));
  rows.push(scaleRow(inputs));

  const lagTarget = 'lag p99 at 100 changes/s, end to end';
  if (!phases.lag) rows.push({ target: lagTarget, limit: '≤ 300 ms', measured: '-', result: 'not run' });
  else if (inputs.rate !== 100) rows.push({ target: lagTarget, limit: '≤ 300 ms', measured: `this run changed ${inputs.rate}/s (--rate 100)`, result: 'not run' });
  else if (inputs.lagP99Ms === undefined) rows.push({ target: lagTarget, limit: '≤ 300 ms', measured: 'no lag figure (the lag phase did not finish)', result: 'FAIL' });
  else rows.push({ target: lagTarget, limit: '≤ 300 ms', measured: `${inputs.lagP99Ms.toFixed(0)} ms`, result: verdict(inputs.lagP99Ms <= 300) });

  const rateTarget = 'highest change rate held with p99 ≤ 1 s ÷ highest rate direct writes hold';
  const rates = inputs.rates;
  if (!phases.rates || !rates) rows.push({ target: rateTarget, limit: '≥ 0.8', measured: '-', result: 'not run' });
  else if (rates.direct === 0) rows.push({ target: rateTarget, limit: '≥ 0.8', measured: 'direct writes held no rate from 100/s up', result: 'FAIL' });
  else {
    const ratio = rates.lifeboat / rates.direct;
    const capped = (rate: number) => (rate >= rates.maxRate ? `≥ ${rate}` : String(rate));
    rows.push({ target: rateTarget, limit: '≥ 0.8', result: verdict(ratio >= 0.8),
      measured: `${ratio.toFixed(2)} (lifeboat ${capped(rates.lifeboat)}/s ÷ direct ${capped(rates.direct)}/s; rates doubled from 100/s, 10 s each, so each within ×2)` });
  }

  const recoveryTarget = `recovery (1,000 Deployments) ÷ direct patches`;
  if (!phases.recovery || inputs.recoveryRatio === undefined) rows.push({ target: recoveryTarget, limit: '≤ 1.1', measured: '-', result: 'not run' });
  else if (inputs.recoveryDeployments !== 1000) rows.push({ target: recoveryTarget, limit: '≤ 1.1', measured: `this run woke ${inputs.recoveryDeployments} (--recovery-deployments 1000)`, result: 'not run' });
  else rows.push({ target: recoveryTarget, limit: '≤ 1.1', measured: `${inputs.recoveryRatio.toFixed(2)}${inputs.recoveryFailed ? `, ${inputs.recoveryFailed} failed` : ''}`, result: verdict(!inputs.recoveryFailed && inputs.recoveryRatio <= 1.1) });

  rows.push(memoryRow(inputs));

  const cliRow = (target: string, limit: number, measurement: CliMeasurement | undefined, informational = false): TargetRow => {
    if (!phases.cli || !inputs.cli) return { target, limit: `≤ ${limit} ms`, measured: '-', result: 'not run' };
    if (!measurement) return { target, limit: `≤ ${limit} ms`, measured: 'not in this run', result: 'not run' };
    const { subject, baseline } = measurement;
    return {
      target, limit: informational ? `(${limit} ms for the row above)` : `≤ ${limit} ms`, result: informational ? 'informational' : verdict(subject.medianMs <= limit),
      measured: `${subject.medianMs.toFixed(0)} ms median (${subject.minMs.toFixed(0)}-${subject.maxMs.toFixed(0)}, ${subject.runsMs.length} runs); ${measurement.ratio.toFixed(1)}× baseline ${baseline.medianMs.toFixed(0)} ms`,
    };
  };
  const find = (prefix: string) => inputs.cli?.measurements.find((measurement) => measurement.name.startsWith(prefix));
  rows.push(cliRow('history --object over 10,000 commits (index present)', 200, find('history --object over 10000 commits (index present)')));
  rows.push(cliRow('history --object over 10,000 commits (cold: index rebuilt)', 200, find('history --object over 10000 commits (cold'), true));
  rows.push(cliRow('history latest 50 of 10,000 commits', 200, find('history latest 50 of 10000')));
  rows.push(cliRow('status with 50 plans', 200, find('status with 50 plans')));
  rows.push(cliRow('CLI start: lifeboat --help', 150, find('CLI start: lifeboat --help')));
  rows.push(cliRow('CLI start: the README\'s invocation (lifeboat on PATH)', 150, find('CLI start: the README')));

  const cpuTarget = 'lifeboat CPU-seconds per 1,000 objects ÷ ceiling client\'s';
  if (!phases.initial) rows.push({ target: cpuTarget, limit: '≤ 2', measured: '-', result: 'not run' });
  else if (!initial || !ceiling || !initial.complete || ceiling.processCpuSeconds <= 0) rows.push({ target: cpuTarget, limit: '≤ 2', measured: 'no ceiling, or the initial sync did not finish', result: 'not run' });
  else if (judged?.ceilingCpuPer1000) {
    const ratio = judged.lifeboatCpuPer1000.median / judged.ceilingCpuPer1000.median;
    rows.push({ target: cpuTarget, limit: '≤ 2', result: verdict(ratio <= 2),
      measured: `${ratio.toFixed(2)} (${spreadText(judged.lifeboatCpuPer1000)} ÷ ${spreadText(judged.ceilingCpuPer1000)} s, medians of ${judged.rounds} ${judged.placement} rounds; lifeboat's process, its destination watches included; NATS + Redis add ${spreadText(judged.engineCpuPer1000)} s)` });
  } else {
    const per1000 = (seconds: number) => (seconds / inputs.objects) * 1000;
    const ratio = initial.processCpuSeconds / ceiling.processCpuSeconds;
    rows.push({ target: cpuTarget, limit: '≤ 2', result: verdict(ratio <= 2),
      measured: `${ratio.toFixed(2)} (${per1000(initial.processCpuSeconds).toFixed(2)} ÷ ${per1000(ceiling.processCpuSeconds).toFixed(2)} s; bench process CPU in each phase, its destination watches included)` });
  }
  return rows;
}

/** 50,000 objects: one round (ceiling, then `lifeboat run`), its ratio, and its time ÷ lifeboat's at 5,000. */
function scaleRow(inputs: TargetInputs): TargetRow {
  const target = 'initial sync ÷ ceiling, 50,000 objects';
  const limit = '≤ 1.2, time ÷ time at 5,000 ≤ 11';
  const scale = inputs.scale;
  if (!inputs.phases.scale || !scale) return { target, limit, measured: '-', result: 'not run' };
  if (scale.objects !== 50_000) return { target, limit, measured: `this run's scale round had ${scale.objects.toLocaleString('en')} objects (--scale-objects 50000)`, result: 'not run' };
  if (!scale.complete) return { target, limit, measured: `lifeboat run had not synced every object after ${scale.lifeboatSeconds.toFixed(0)} s`, result: 'FAIL' };
  const ratio = scale.lifeboatSeconds / scale.ceilingSeconds;
  const growth = scale.mainSeconds === undefined || scale.mainObjects !== 5000 ? undefined : scale.lifeboatSeconds / scale.mainSeconds;
  const measured = `${ratio.toFixed(2)} (lifeboat run ${scale.lifeboatSeconds.toFixed(1)} s ÷ ceiling ${scale.ceilingSeconds.toFixed(1)} s, one ${scale.placement} round); `
    + (growth === undefined ? 'no 5,000-object rounds in this run' : `time ÷ time at 5,000 ${growth.toFixed(1)} (${scale.lifeboatSeconds.toFixed(1)} ÷ ${scale.mainSeconds!.toFixed(1)} s, the ${scale.placement} median)`);
  return { target, limit, measured, result: growth === undefined ? 'not measured' : verdict(ratio <= 1.2 && growth <= 11) };
}

/** Peak RSS of `lifeboat run` as a child process (bin/lifeboat.js, compiled): the memory phase at 10,000, the scale round at 50,000. */
function memoryRow(inputs: TargetInputs): TargetRow {
  const target = 'peak RSS of lifeboat run at 10,000 / 50,000 objects';
  const limit = '≤ 150 MB / ≤ 400 MB';
  const figures: { objects: number; peakMiB: number; note: string; limit: number }[] = [];
  const memory = inputs.phases.memory ? inputs.memory : undefined;
  if (memory) figures.push({ objects: memory.objects, peakMiB: memory.peakMiB, limit: memory.objects > 10_000 ? 400 : 150, note: `V8 heap used ${memory.heapUsedMiB.toFixed(0)} MB` });
  const scale = inputs.phases.scale && inputs.scale?.complete ? inputs.scale : undefined;
  if (scale) figures.push({ objects: scale.objects, peakMiB: scale.peakMiB, limit: 400, note: 'the scale round' });
  if (!figures.length) return { target, limit, measured: '-', result: 'not run' };
  const measured = figures.map((figure) => `${figure.peakMiB.toFixed(0)} MB at ${figure.objects.toLocaleString('en')} objects (${figure.note})`).join('; ');
  const both = figures.some((figure) => figure.objects === 10_000) && figures.some((figure) => figure.objects === 50_000);
  if (figures.some((figure) => (figure.objects === 10_000 || figure.objects === 50_000) && figure.peakMiB > figure.limit)) return { target, limit, measured, result: 'FAIL' };
  return { target, limit, measured: both ? measured : `${measured}; both sizes need the memory phase (--rss-objects 10000) and the scale round (--scale-objects 50000)`, result: both ? 'PASS' : 'not run' };
}

export function renderTargets(rows: readonly TargetRow[]): string {
  return renderColumns(['TARGET', 'LIMIT', 'MEASURED', 'RESULT'], rows.map((row) => [row.target, row.limit, row.measured, row.result]));
}

/** A plain-text table: each column as wide as its widest cell, two spaces apart. */
export function renderColumns(headers: readonly string[], cells: readonly string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column]!.length)));
  const line = (row: readonly string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/** The CLI phase's own table: each command's median and spread beside its baseline's. */
export function renderCli(result: CliResult): string {
  const headers = ['COMMAND', 'MEDIAN MS', 'MIN-MAX MS', 'BASELINE', 'BASELINE MS', 'RATIO'];
  const cells = result.measurements.map((measurement) => [
    measurement.name, measurement.subject.medianMs.toFixed(0), `${measurement.subject.minMs.toFixed(0)}-${measurement.subject.maxMs.toFixed(0)}`,
    measurement.baselineCommand.replace(/--git-dir=\S+ /, ''), measurement.baseline.medianMs.toFixed(0), measurement.ratio.toFixed(2),
  ]);
  const numeric = new Set([1, 2, 4, 5]);
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}
