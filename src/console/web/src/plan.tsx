// One plan: its RPO over the last hour, the mirror history as a timeline (what each commit changed, when it reached
// the stand-by), a diff between any two revisions (Secret values arrive masked), drift and the objects that fail.
import { useEffect, useState } from 'preact/hooks';
import type * as Api from '../../api.ts';
import { LagChart } from './chart.tsx';
import { api } from './client.ts';
import { Ago, Counts, ReadyBadge, Section, seconds, shortRevision } from './components.tsx';
import { href } from './router.ts';

/** Loads `load()` now and again whenever `key` changes (a new mirror or applied head, from the event stream). */
export function useLoaded<T>(load: () => Promise<T>, key: unknown[]): { value: T | undefined; error: string | undefined; reload: () => void } {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    load().then((loaded) => {
      if (!current) return;
      setValue(loaded);
      setError(undefined);
    }, (failure: Error) => current && setError(failure.message));
    return () => {
      current = false;
    };
  }, [...key, tick]);
  return { value, error, reload: () => setTick((n) => n + 1) };
}

export function PlanHeader({ summary, name, active }: { summary: Api.PlanSummary | undefined; name: string; active: 'plan' | 'deletes' | 'recover' }) {
  return (
    <header class="plan-head">
      <h1>{name} {summary && <ReadyBadge ready={summary.ready} />}</h1>
      {summary && <p class="message">{summary.ready.message}</p>}
      <nav class="tabs">
        <a class={active === 'plan' ? 'active' : ''} href={href({ page: 'plan', plan: name })}>Plan</a>
        <a class={active === 'deletes' ? 'active' : ''} href={href({ page: 'deletes', plan: name })}>Held deletes{summary?.heldDeletes ? ` (${summary.heldDeletes})` : ''}</a>
        <a class={active === 'recover' ? 'active' : ''} href={href({ page: 'recover', plan: name })}>Recover &amp; drill</a>
      </nav>
    </header>
  );
}

export function PlanPage({ name, summary }: { name: string; summary: Api.PlanSummary | undefined }) {
  const heads = [name, summary?.mirrorHead, summary?.appliedHead, summary?.heldDeletes, summary?.drift, summary?.failingObjects];
  const detail = useLoaded(() => api.detail(name), heads);
  const history = useLoaded(() => api.history(name, 100), heads);
  const [from, setFrom] = useState<string | undefined>(undefined);
  const [to, setTo] = useState<string | undefined>(undefined);
  const [diff, setDiff] = useState<{ diff?: Api.Diff; error?: string } | undefined>(undefined);

  const showDiff = async (target: string, start?: string) => {
    setDiff({});
    try {
      setDiff({ diff: await api.diff(name, target, start) });
    } catch (failure) {
      setDiff({ error: (failure as Error).message });
    }
  };
  const plan = detail.value;
  const live = summary ?? plan;
  return (
    <>
      <PlanHeader summary={live} name={name} active="plan" />
      {detail.error && <p class="error" role="alert">{detail.error}</p>}
      {live && (
        <dl class="facts">
          <div><dt>RPO now</dt><dd data-field="lag">{seconds(live.lagSeconds)}</dd></div>
          <div><dt>Objects</dt><dd data-field="objects">{live.objects}</dd></div>
          <div><dt>Held deletes</dt><dd>{live.heldDeletes}</dd></div>
          <div><dt>Drift</dt><dd>{live.drift}</dd></div>
          <div><dt>Mirror</dt><dd><code>{shortRevision(live.mirrorHead)}</code></dd></div>
          <div><dt>Applied</dt><dd><code>{shortRevision(live.appliedHead)}</code></dd></div>
          {plan && <div><dt>Clusters</dt><dd>{plan.source ?? '?'} → {plan.destination ?? '?'}</dd></div>}
        </dl>
      )}
      <Section title="RPO, last hour">{live && <LagChart samples={live.lagHistory} />}</Section>
      {live && Object.keys(live.objectsByKind).length > 0 && (
        <Section title="Objects by kind">
          <ul class="kinds">{Object.entries(live.objectsByKind).sort(([a], [b]) => a.localeCompare(b)).map(([kind, count]) => <li key={kind}><span>{kind}</span> <b>{count}</b></li>)}</ul>
        </Section>
      )}
      <Section title="Timeline" actions={<>
        <span class="hint">Choose a <b>from</b> and a <b>to</b> revision to compare them.</span>
        <button type="button" disabled={!to} data-action="compare" onClick={() => to && showDiff(to, from)}>Compare</button>
      </>}>
        {history.error && <p class="error" role="alert">{history.error}</p>}
        <table class="timeline" data-testid="timeline">
          <thead><tr><th>From</th><th>To</th><th>Revision</th><th>Time</th><th>Changes</th><th>Objects</th><th>Plan revision</th><th>Applied</th><th /></tr></thead>
          <tbody>
            {(history.value ?? []).map((revision) => (
              <tr key={revision.revision} data-revision={revision.revision}>
                <td><input type="radio" name="from" aria-label={`compare from ${shortRevision(revision.revision)}`} checked={from === revision.revision} onChange={() => setFrom(revision.revision)} /></td>
                <td><input type="radio" name="to" aria-label={`compare to ${shortRevision(revision.revision)}`} checked={to === revision.revision} onChange={() => setTo(revision.revision)} /></td>
                <td><button type="button" class="link" title="what this revision changed" onClick={() => showDiff(revision.revision)}><code>{shortRevision(revision.revision)}</code></button></td>
                <td><Ago time={revision.time} /></td>
                <td><Counts created={revision.created} updated={revision.updated} deleted={revision.deleted} /></td>
                <td class="changes">
                  {revision.changes.slice(0, 3).map((change) => <div key={change}>{change}</div>)}
                  {revision.changes.length > 3 && <div class="more">and {revision.created + revision.updated + revision.deleted - 3} more</div>}
                </td>
                <td><code>{revision.planRevision ?? '—'}</code></td>
                <td>{revision.applied === 'pending' ? <span class="warn">pending</span> : revision.applied === 'unknown' ? 'unknown' : <Ago time={revision.applied} />}</td>
                <td><a href={href({ page: 'recover', plan: name, to: revision.revision })}>Recover to this</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      {diff && (
        <Section title="Diff" actions={<button type="button" onClick={() => setDiff(undefined)}>Close</button>}>
          {diff.error && <p class="error" role="alert">{diff.error}</p>}
          {!diff.diff && !diff.error && <p>Loading…</p>}
          {diff.diff && <DiffView diff={diff.diff} />}
        </Section>
      )}
      {plan && (
        <Section title="Drift">
          {!plan.reconcile ? <p class="empty">No reconcile has run yet.</p> : (
            <>
              <p>Last reconcile <Ago time={plan.reconcile.at} /> ({plan.reconcile.drift === 'correct' ? 'corrects drift' : 'reports drift only'}):
                {' '}{plan.reconcile.drifted.length} drifted, {plan.reconcile.missing} missing, {plan.reconcile.orphaned} orphaned, {plan.reconcile.corrected} corrected.
                {plan.reconcile.error && <span class="error"> {plan.reconcile.error}</span>}</p>
              {plan.reconcile.drifted.length > 0 && (
                <table class="drift"><thead><tr><th>Object</th><th>Fields that differ</th></tr></thead>
                  <tbody>{plan.reconcile.drifted.map((entry) => <tr key={entry.object}><td>{entry.object}</td><td><code>{entry.fields.join(', ')}</code></td></tr>)}</tbody>
                </table>
              )}
            </>
          )}
        </Section>
      )}
      {plan && (
        <Section title="Errors">
          {!plan.errors.length && !plan.lastErrors.length ? <p class="empty">No object is failing.</p> : (
            <table class="errors" data-testid="errors">
              <thead><tr><th>Object</th><th>Stage</th><th>Reason</th><th>Since</th><th class="num">Count</th></tr></thead>
              <tbody>
                {plan.errors.map((error) => <tr key={`${error.stage}/${error.object}`}><td>{error.object}</td><td>{error.stage}</td><td>{error.reason}</td><td><Ago time={error.since} /></td><td class="num">{error.count}</td></tr>)}
                {plan.lastErrors.map((error) => <tr key={`dead/${error.path}`}><td>{error.path}</td><td>apply</td><td>{error.reason}</td><td><Ago time={error.at} /></td><td class="num">{error.attempts}</td></tr>)}
              </tbody>
            </table>
          )}
        </Section>
      )}
    </>
  );
}

export function DiffView({ diff }: { diff: Api.Diff }) {
  if (!diff.files.length) return <p class="empty">Nothing changed between {shortRevision(diff.from)} and {shortRevision(diff.to)}.</p>;
  return (
    <div class="diff" data-testid="diff">
      <p>{shortRevision(diff.from)} → {shortRevision(diff.to)}: {diff.files.length} file{diff.files.length === 1 ? '' : 's'}</p>
      {diff.files.map((file) => (
        <details key={file.path} open={diff.files.length <= 10}>
          <summary><span class={`change ${file.change}`}>{file.change}</span> <code>{file.path}</code></summary>
          <pre>{file.diff.split('\n').map((line, index) => (
            <span key={index} class={line.startsWith('+') && !line.startsWith('+++') ? 'add' : line.startsWith('-') && !line.startsWith('---') ? 'del' : line.startsWith('@@') ? 'hunk' : ''}>{line}{'\n'}</span>
          ))}</pre>
        </details>
      ))}
    </div>
  );
}
