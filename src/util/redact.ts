// Credentials travel inside server URLs (nats://user:password@host, redis://user:password@host); these helpers keep
// them out of everything lifeboat prints: errors, logs and status show the URL with its password masked.

/** The URL with its password (or a lone token) replaced by `***`; the user name stays, it says who tried. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@]*)@/g, (_match, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon === -1 ? '//***@' : `//${userinfo.slice(0, colon)}:***@`;
  });
}

/** User and password of a server URL, when it carries them. */
export function credentialsOf(url: string): { user: string; password: string } | undefined {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return undefined;
    return { user: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
  } catch {
    return undefined;
  }
}

/** The URL as it may be stored and shown: no user name or password in it at all. */
export function urlWithoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return redactUrl(url);
  }
}
