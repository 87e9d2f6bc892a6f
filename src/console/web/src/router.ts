// Pages are addressed by the URL's fragment (#/plans/shop/recover?to=abc), so the server serves one page and a
// link can be shared or reloaded.
export type Route =
  | { page: 'overview' }
  | { page: 'plan'; plan: string }
  | { page: 'deletes'; plan: string }
  | { page: 'recover'; plan: string; to?: string };

export function parseRoute(hash: string): Route {
  const [route = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = route.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'plans' && parts[1]) {
    if (parts[2] === 'deletes') return { page: 'deletes', plan: parts[1] };
    if (parts[2] === 'recover') {
      const to = new URLSearchParams(query).get('to');
      return to ? { page: 'recover', plan: parts[1], to } : { page: 'recover', plan: parts[1] };
    }
    return { page: 'plan', plan: parts[1] };
  }
  return { page: 'overview' };
}

export function href(route: Route): string {
  if (route.page === 'overview') return '#/';
  const base = `#/plans/${encodeURIComponent(route.plan)}`;
  if (route.page === 'plan') return base;
  if (route.page === 'deletes') return `${base}/deletes`;
  return `${base}/recover${route.to ? `?to=${encodeURIComponent(route.to)}` : ''}`;
}
