// The benchmark's targets table (bench/targets.ts): the 50,000-object row from the scale round against the main
// rounds, and the memory row from both sizes — PASS only for what this run measured.
import test from 'ava';
import { targetRows, type TargetInputs } from '../../bench/targets.ts';

const phases = { initial: true, lag: false, recovery: false, cli: false, memory: true, rates: false, scale: true };
const base: TargetInputs = { objects: 5000, rate: 100, recoveryDeployments: 1000, phases };
const row = (inputs: TargetInputs, prefix: string) => targetRows(inputs).find((candidate) => candidate.target.startsWith(prefix))!;
const scale = (lifeboatSeconds: number, ceilingSeconds: number, mainSeconds: number | undefined, objects = 50_000) => ({
  objects, ceilingSeconds, lifeboatSeconds, complete: true, peakMiB: 380, placement: 'pinned', mainSeconds, mainObjects: 5000,
});

test('the 50,000-object row: the ratio to the ceiling and the time against the 5,000-object median, both within their limits', (t) => {
  const target = 'initial sync ÷ ceiling, 50,000';
  t.is(row({ ...base, scale: scale(150, 140, 14) }, target).result, 'PASS');
  t.is(row({ ...base, scale: scale(180, 140, 14) }, target).result, 'FAIL', 'ratio 1.29');
  t.is(row({ ...base, scale: scale(160, 140, 13) }, target).result, 'FAIL', 'time 12.3× the 5,000-object time');
  t.regex(row({ ...base, scale: scale(160, 140, 13) }, target).measured, /time ÷ time at 5,000 12\.3/);
  t.is(row({ ...base, scale: scale(150, 140, undefined) }, target).result, 'not measured', 'no main rounds to compare with');
  t.is(row({ ...base, scale: scale(15, 14, 14, 3000) }, target).result, 'not run', 'a smaller scale round is not the target');
  t.is(row({ ...base, scale: { ...scale(150, 140, 14), complete: false } }, target).result, 'FAIL');
  t.is(row({ ...base, phases: { ...phases, scale: false } }, target).result, 'not run');
});

test('the memory row: PASS only with both sizes measured and within their limits', (t) => {
  const target = 'peak RSS';
  const memory = (peakMiB: number) => ({ objects: 10_000, peakMiB, heapUsedMiB: 50 });
  t.is(row({ ...base, memory: memory(140), scale: scale(150, 140, 14) }, target).result, 'PASS');
  t.is(row({ ...base, memory: memory(209), scale: scale(150, 140, 14) }, target).result, 'FAIL');
  t.is(row({ ...base, memory: memory(140), scale: { ...scale(150, 140, 14), peakMiB: 450 } }, target).result, 'FAIL');
  t.is(row({ ...base, memory: memory(140) }, target).result, 'not run', 'the 50,000 figure missing');
  t.regex(row({ ...base, memory: memory(140), scale: scale(150, 140, 14) }, target).measured, /140 MB at 10,000 .*380 MB at 50,000/);
});
