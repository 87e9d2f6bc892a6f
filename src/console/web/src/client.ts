// The console's API from the browser: GETs are open, every action sends the bearer token (kept for this tab only, in
// sessionStorage; never a cookie, so another site's page cannot act in the user's name).
import type * as Api from '../../api.ts';

const tokenKey = 'lifeboat-console-token';

export function savedToken(): string | null {
  return sessionStorage.getItem(tokenKey);
}

export function saveToken(token: string | null): void {
  if (token) sessionStorage.setItem(tokenKey, token);
  else sessionStorage.removeItem(tokenKey);
}

/** An answer that was not 2xx: the server's one-line reason and its status. */
export class ApiFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const token = savedToken();
  const headers: Record<string, string> = {};
  if (method === 'POST') {
    headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
  }
  let response: Response;
  try {
    response = await fetch(route, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiFailure(0, 'the console does not answer: is lifeboat still running?');
  }
  const text = await response.text();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (JSON.parse(text) as Api.ApiError).error || message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiFailure(response.status, message);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

const plan = (name: string) => `/api/plans/${encodeURIComponent(name)}`;

export const api = {
  overview: () => call<Api.Overview>('GET', '/api/overview'),
  detail: (name: string) => call<Api.PlanDetail>('GET', plan(name)),
  history: (name: string, limit = 100) => call<Api.Revision[]>('GET', `${plan(name)}/history?limit=${limit}`),
  diff: (name: string, to: string, from?: string) =>
    call<Api.Diff>('GET', `${plan(name)}/diff?to=${encodeURIComponent(to)}${from ? `&from=${encodeURIComponent(from)}` : ''}`),
  deletes: (name: string) => call<Api.HeldDeleteEntry[]>('GET', `${plan(name)}/deletes`),
  job: (job: string) => call<Api.JobProgress>('GET', `/api/jobs/${encodeURIComponent(job)}`),
  session: () => call<void>('POST', '/api/session', {}),
  approve: (name: string, decision: Api.DeleteDecision) => call<Api.DecisionResult>('POST', `${plan(name)}/deletes/approve`, decision),
  reject: (name: string, decision: Api.DeleteDecision) => call<Api.DecisionResult>('POST', `${plan(name)}/deletes/reject`, decision),
  recover: (name: string, request: Api.RecoverRequest) => call<Api.RecoverPreview | Api.JobStarted>('POST', `${plan(name)}/recover`, request),
  drill: (name: string, request: Api.DrillRequest) => call<Api.DrillResult>('POST', `${plan(name)}/drill`, request),
};

/** One server-sent events stream for the whole page: the overview on every change, and job progress. */
export function subscribe(handlers: { overview(overview: Api.Overview): void; job(job: Api.JobProgress): void; connected(live: boolean): void }): () => void {
  const source = new EventSource('/api/events');
  source.addEventListener('overview', (event) => handlers.overview(JSON.parse((event as MessageEvent<string>).data) as Api.Overview));
  source.addEventListener('job', (event) => handlers.job(JSON.parse((event as MessageEvent<string>).data) as Api.JobProgress));
  source.addEventListener('open', () => handlers.connected(true));
  // EventSource reconnects by itself; the page shows that it is behind until it has.
  source.addEventListener('error', () => handlers.connected(false));
  return () => source.close();
}
