// Small pieces every page uses: formatting, the Ready badge, the RPO sparkline, and a button that runs an action
// and says why it was refused.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type * as Api from '../../api.ts';
import { ApiFailure, savedToken } from './client.ts';

export const shortRevision = (revision: string | null | undefined) => (revision ? revision.slice(0, 8) : '—');

/** 0.4 s, 12 s, 3m 05s, 2h 10m. */
export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value < 10) return `${Math.round(value * 10) / 10} s`;
  if (value < 60) return `${Math.round(value)} s`;
  if (value < 3600) return `${Math.floor(value / 60)}m ${String(Math.round(value % 60)).padStart(2, '0')}s`;
  return `${Math.floor(value / 3600)}h ${String(Math.floor((value % 3600) / 60)).padStart(2, '0')}m`;
}

/** `12 s ago`, with the exact time as the tooltip. */
export function Ago({ time }: { time: string | null | undefined }) {
  if (!time) return <span>—</span>;
  const at = Date.parse(time);
  if (Number.isNaN(at)) return <span>{time}</span>;
  return <time dateTime={time} title={new Date(at).toLocaleString()}>{seconds(Math.max(0, (Date.now() - at) / 1000))} ago</time>;
}

export function ReadyBadge({ ready }: { ready: Api.ReadyCondition }) {
  const tone = ready.status === 'True' ? 'ok' : ready.status === 'False' ? 'bad' : 'unknown';
  return (
    <span class={`badge ${tone}`} title={ready.message} data-ready={ready.status}>
      {ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'Not ready' : 'Unknown'} · {ready.reason}
    </span>
  );
}

/** The last hour of RPO as a line (SVG: 50 of them paint at once, no chart library per row). */
export function Sparkline({ samples, width = 120, height = 28 }: { samples: Api.LagSample[]; width?: number; height?: number }) {
  if (samples.length < 2) return <svg class="spark" width={width} height={height} aria-label="no lag history yet" />;
  const first = samples[0]![0];
  const last = samples.at(-1)![0];
  const top = Math.max(1, ...samples.map(([, lag]) => lag));
  const x = (time: number) => (last === first ? width : ((time - first) / (last - first)) * width);
  const y = (lag: number) => height - 2 - (lag / top) * (height - 4);
  const points = samples.map(([time, lag]) => `${x(time).toFixed(1)},${y(lag).toFixed(1)}`).join(' ');
  return (
    <svg class="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`RPO over the last hour, highest ${seconds(top)}`}>
      <title>{`highest ${seconds(top)} in the last hour`}</title>
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

/** A button for an action: busy while it runs, the server's reason under it when refused (401 says the token). */
export function ActionButton(props: { label: string; run: () => Promise<unknown>; disabled?: boolean; kind?: 'primary' | 'danger' | 'plain'; name?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const needsToken = !savedToken();
  const click = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.run();
    } catch (failure) {
      const message = failure instanceof Error ? failure.message : String(failure);
      setError(failure instanceof ApiFailure && failure.status === 401 ? `Refused (401): ${message}` : message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={props.kind ?? 'plain'} data-action={props.name} disabled={busy || props.disabled}
        title={needsToken ? 'Actions need the console token: enter it at the top of the page' : undefined} onClick={click}>
        {busy ? `${props.label}…` : props.label}
      </button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section>
      <header class="section-head"><h2>{title}</h2>{actions && <div class="section-actions">{actions}</div>}</header>
      {children}
    </section>
  );
}

export function Counts({ created, updated, deleted }: { created: number; updated: number; deleted: number }) {
  return (
    <span class="counts">
      {created > 0 && <span class="created">+{created}</span>}
      {updated > 0 && <span class="updated">~{updated}</span>}
      {deleted > 0 && <span class="deleted">−{deleted}</span>}
    </span>
  );
}
