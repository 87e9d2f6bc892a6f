// Held deletes: objects gone from the source that the delete guard kept at the stand-by. Approve lets the deletes
// through to the mirror (and so the stand-by), Reject keeps the objects; all of them or the ones selected — Argo
// CD's "Confirm Pruning".
import { useState } from 'preact/hooks';
import type * as Api from '../../api.ts';
import { api } from './client.ts';
import { ActionButton, Ago } from './components.tsx';
import { PlanHeader, useLoaded } from './plan.tsx';

export function DeletesPage({ name, summary }: { name: string; summary: Api.PlanSummary | undefined }) {
  const held = useLoaded(() => api.deletes(name), [name, summary?.heldDeletes, summary?.mirrorHead]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [result, setResult] = useState<string | undefined>(undefined);
  const entries = held.value ?? [];
  const chosen = entries.filter((entry) => selected.has(entry.path)).map((entry) => entry.path);
  const decide = async (approve: boolean, decision: Api.DeleteDecision) => {
    const answer = await (approve ? api.approve : api.reject)(name, decision);
    setResult(answer.message);
    setSelected(new Set());
    held.reload();
  };
  const toggle = (path: string) => {
    const next = new Set(selected);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    setSelected(next);
  };
  return (
    <>
      <PlanHeader summary={summary} name={name} active="deletes" />
      {held.error && <p class="error" role="alert">{held.error}</p>}
      {result && <p class="notice" role="status">{result}</p>}
      {held.value && !entries.length ? <p class="empty" data-testid="no-deletes">No deletes are held: every delete in the source has reached the stand-by, or was rejected.</p> : (
        <>
          <div class="toolbar">
            <ActionButton name="approve-selected" kind="danger" label={`Approve ${chosen.length || ''} selected`} disabled={!chosen.length} run={() => decide(true, { paths: chosen })} />
            <ActionButton name="reject-selected" label={`Reject ${chosen.length || ''} selected`} disabled={!chosen.length} run={() => decide(false, { paths: chosen })} />
            <ActionButton name="approve-all" kind="danger" label={`Approve all ${entries.length}`} disabled={!entries.length} run={() => decide(true, { all: true })} />
            <ActionButton name="reject-all" label={`Reject all ${entries.length}`} disabled={!entries.length} run={() => decide(false, { all: true })} />
          </div>
          <p class="hint">Approving deletes the objects at the stand-by. Rejecting keeps them there and stops holding these deletes.</p>
          <table class="held" data-testid="held">
            <thead><tr>
              <th><input type="checkbox" aria-label="select all" checked={entries.length > 0 && chosen.length === entries.length}
                onChange={() => setSelected(chosen.length === entries.length ? new Set() : new Set(entries.map((entry) => entry.path)))} /></th>
              <th>Object</th><th>Why it is held</th><th>Since</th>
            </tr></thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.path} data-path={entry.path}>
                  <td><input type="checkbox" aria-label={`select ${entry.summary}`} checked={selected.has(entry.path)} onChange={() => toggle(entry.path)} /></td>
                  <td>{entry.summary}</td><td>{entry.reason}</td><td><Ago time={entry.at} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
