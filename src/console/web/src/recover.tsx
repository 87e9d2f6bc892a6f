// Recover: what to restore (what the stand-by has, a revision from the timeline, or the plan as it was at a time),
// the dry run's preview per kind, the plan's name typed to confirm, then the RecoveryExecutionJob's progress per
// kind and its measured RTO. A drill from the same page: the plan's revision applied into scratch namespaces.
import { useEffect, useState } from 'preact/hooks';
import type * as Api from '../../api.ts';
import { api } from './client.ts';
import { ActionButton, seconds, Section, shortRevision } from './components.tsx';
import { PlanHeader, useLoaded } from './plan.tsx';

type Target = { type: 'standby' } | { type: 'revision'; revision: string } | { type: 'time'; at: string };

function requestOf(target: Target): Pick<Api.RecoverRequest, 'to' | 'at'> {
  if (target.type === 'revision') return { to: target.revision };
  if (target.type === 'time') return { at: new Date(target.at).toISOString() };
  return {};
}

function CountsTable({ counts, columns }: { counts: Record<string, Api.KindCounts>; columns: (keyof Api.KindCounts)[] }) {
  const kinds = Object.keys(counts).sort();
  if (!kinds.length) return <p class="empty">Nothing to do.</p>;
  return (
    <table class="kind-counts" data-testid="counts">
      <thead><tr><th>Kind</th>{columns.map((column) => <th key={column} class="num">{column}</th>)}</tr></thead>
      <tbody>{kinds.map((kind) => (
        <tr key={kind} data-kind={kind}><td>{kind}</td>{columns.map((column) => <td key={column} class="num" data-column={column}>{counts[kind]![column] ?? 0}</td>)}</tr>
      ))}</tbody>
    </table>
  );
}

export function RecoverPage({ name, summary, initialRevision, jobs }: { name: string; summary: Api.PlanSummary | undefined; initialRevision: string | undefined; jobs: ReadonlyMap<string, Api.JobProgress> }) {
  const history = useLoaded(() => api.history(name, 100), [name, summary?.mirrorHead]);
  const [target, setTarget] = useState<Target>(initialRevision ? { type: 'revision', revision: initialRevision } : { type: 'standby' });
  const [preview, setPreview] = useState<Api.RecoverPreview | undefined>(undefined);
  const [typed, setTyped] = useState('');
  const [job, setJob] = useState<string | undefined>(undefined);
  const [fetched, setFetched] = useState<Api.JobProgress | undefined>(undefined);
  const [drill, setDrill] = useState<Api.DrillResult | undefined>(undefined);

  useEffect(() => setPreview(undefined), [target.type, target.type === 'revision' ? target.revision : target.type === 'time' ? target.at : '']);
  // The job's progress comes on the page's event stream; one read at the start covers the time before its first event.
  useEffect(() => {
    if (job) api.job(job).then(setFetched, () => undefined);
  }, [job]);
  const progress = (job && jobs.get(job)) || fetched;

  const runPreview = async () => {
    const answer = await api.recover(name, { ...requestOf(target), dryRun: true });
    if (answer.dryRun) setPreview(answer);
  };
  const runRecover = async () => {
    const answer = await api.recover(name, { ...requestOf(target), dryRun: false, confirm: typed });
    if (!answer.dryRun) setJob(answer.job);
  };
  const revisions = history.value ?? [];
  const done = progress && (progress.phase === 'Succeeded' || progress.phase === 'Failed');
  return (
    <>
      <PlanHeader summary={summary} name={name} active="recover" />
      <Section title="1. What to recover">
        <div class="choices">
          <label><input type="radio" name="target" checked={target.type === 'standby'} onChange={() => setTarget({ type: 'standby' })} /> What the stand-by has now (applied <code>{shortRevision(summary?.appliedHead)}</code>)</label>
          <label><input type="radio" name="target" checked={target.type === 'revision'} onChange={() => setTarget({ type: 'revision', revision: revisions[0]?.revision ?? '' })} /> A revision:
            <select aria-label="revision" disabled={target.type !== 'revision'} value={target.type === 'revision' ? target.revision : ''}
              onChange={(event) => setTarget({ type: 'revision', revision: (event.target as HTMLSelectElement).value })}>
              {target.type === 'revision' && !revisions.some((revision) => revision.revision === target.revision) && <option value={target.revision}>{shortRevision(target.revision)}</option>}
              {revisions.map((revision) => <option key={revision.revision} value={revision.revision}>{shortRevision(revision.revision)} · {new Date(revision.time).toLocaleString()} · {revision.summary}</option>)}
            </select>
          </label>
          <label><input type="radio" name="target" checked={target.type === 'time'} onChange={() => setTarget({ type: 'time', at: new Date(Date.now() - 3600_000).toISOString().slice(0, 16) })} /> The plan as it was at:
            <input type="datetime-local" aria-label="time" disabled={target.type !== 'time'} value={target.type === 'time' ? target.at : ''}
              onChange={(event) => setTarget({ type: 'time', at: (event.target as HTMLInputElement).value })} />
          </label>
        </div>
        <ActionButton name="preview" kind="primary" label="Preview (dry run)" run={runPreview} disabled={target.type === 'revision' && !target.revision} />
      </Section>
      {preview && (
        <Section title="2. Preview">
          <p data-testid="preview-message">{preview.message}{preview.revision && <> Restores <code>{shortRevision(preview.revision)}</code> first.</>}</p>
          <CountsTable counts={preview.counts} columns={['restored', 'activated', 'unchanged', 'failed']} />
          <div class="confirm">
            <label>Type <b>{name}</b> to recover for real: <input aria-label="confirm plan name" value={typed} onInput={(event) => setTyped((event.target as HTMLInputElement).value)} /></label>
            <ActionButton name="recover" kind="danger" label="Recover" disabled={typed !== name || Boolean(job && !done)} run={runRecover} />
          </div>
        </Section>
      )}
      {job && (
        <Section title="3. Progress">
          <p data-testid="job">RecoveryExecutionJob <code>{job}</code>: <b data-field="phase">{progress?.phase ?? 'Pending'}</b>
            {progress?.recoverySeconds != null && <> · RTO <b data-field="rto">{seconds(progress.recoverySeconds)}</b></>}</p>
          {progress?.message && <p class="message">{progress.message}</p>}
          {progress && <CountsTable counts={progress.counts} columns={['restored', 'activated', 'unchanged', 'failed']} />}
          {progress && progress.failures.length > 0 && (
            <ul class="failures">{progress.failures.map((failure) => <li key={`${failure.kind}/${failure.namespace}/${failure.name}`}>{failure.kind} {failure.namespace ? `${failure.namespace}/` : ''}{failure.name}: {failure.reason}{failure.message ? ` — ${failure.message}` : ''}</li>)}</ul>
          )}
        </Section>
      )}
      <Section title="Drill">
        <p class="hint">A drill applies the stand-by's revision into scratch namespaces and wakes it there, measures how long that took, and removes it: the real stand-by is not touched.</p>
        <ActionButton name="drill" label="Run a drill" run={async () => setDrill(await api.drill(name, {}))} />
        {drill && (
          <p data-testid="drill">Drill <code>{drill.id}</code> of <code>{shortRevision(drill.revision)}</code>: {drill.applied} of {drill.objects} objects applied, {drill.activated} activated in {seconds(drill.seconds)}
            {drill.failed.length ? <span class="bad"> · {drill.failed.length} failed</span> : ''} · {drill.cleanup}</p>
        )}
      </Section>
    </>
  );
}
