// The Lifeboat console: one page, one event stream. The overview arrives on the stream at once and again on every
// change; each page reads what else it needs when it opens and when its plan's heads move.
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type * as Api from '../../api.ts';
import { api, ApiFailure, saveToken, savedToken, subscribe } from './client.ts';
import { DeletesPage } from './deletes.tsx';
import { Overview } from './overview.tsx';
import { PlanPage } from './plan.tsx';
import { RecoverPage } from './recover.tsx';
import { href, parseRoute, type Route } from './router.ts';

function TokenBar({ onChange }: { onChange: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const has = Boolean(savedToken());
  if (has) {
    return <span class="token" data-testid="token-state">Actions enabled <button type="button" onClick={() => { saveToken(null); onChange(); }}>Forget token</button></span>;
  }
  const unlock = async (event: Event) => {
    event.preventDefault();
    saveToken(token.trim());
    try {
      await api.session();
      setError(undefined);
      onChange();
    } catch (failure) {
      saveToken(null);
      setError(failure instanceof ApiFailure ? failure.message : String(failure));
    }
  };
  return (
    <form class="token" onSubmit={unlock} data-testid="token-state">
      <span>Read-only.</span>
      <input type="password" aria-label="console token" placeholder="console token" autocomplete="off" value={token} onInput={(event) => setToken((event.target as HTMLInputElement).value)} />
      <button type="submit" disabled={!token.trim()}>Enable actions</button>
      {error && <span class="error" role="alert">{error}</span>}
    </form>
  );
}

function App() {
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  const [overview, setOverview] = useState<Api.Overview | undefined>(undefined);
  const [live, setLive] = useState(false);
  const [jobs, setJobs] = useState<ReadonlyMap<string, Api.JobProgress>>(new Map());
  const [, setTokenVersion] = useState(0);

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    const stop = subscribe({
      overview: setOverview,
      job: (job) => setJobs((known) => new Map(known).set(job.job, job)),
      connected: setLive,
    });
    return () => {
      window.removeEventListener('hashchange', onHash);
      stop();
    };
  }, []);
  useEffect(() => {
    // The browser test reads this mark: the first paint of the overview with its plans.
    if (overview && !performance.getEntriesByName('lifeboat-overview').length) requestAnimationFrame(() => performance.mark('lifeboat-overview'));
  }, [overview]);

  const summary = route.page === 'overview' ? undefined : overview?.plans.find((plan) => plan.name === route.plan);
  return (
    <>
      <header class="top">
        <a class="brand" href={href({ page: 'overview' })}>Lifeboat</a>
        <span class={`live ${live ? 'ok' : 'warn'}`} data-testid="live">{live ? 'live' : 'reconnecting…'}</span>
        {overview && <span class="mode">{overview.mode}</span>}
        <TokenBar onChange={() => setTokenVersion((n) => n + 1)} />
      </header>
      <main>
        {!overview ? <p class="loading">Connecting…</p>
          : route.page === 'overview' ? <Overview overview={overview} />
          : !summary && !overview.plans.length ? <p class="error">No plan {route.plan}.</p>
          : route.page === 'plan' ? <PlanPage name={route.plan} summary={summary} />
          : route.page === 'deletes' ? <DeletesPage name={route.plan} summary={summary} />
          : <RecoverPage name={route.plan} summary={summary} initialRevision={route.to} jobs={jobs} />}
      </main>
    </>
  );
}

const root = document.getElementById('app')!;
root.textContent = ''; // the "Loading" placeholder
render(<App />, root);
