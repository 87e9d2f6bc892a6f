// isomorphic-git, loaded on first use: a command that reads only refs and the history index (lifeboat history,
// status) never pays the ~15 ms it takes to load.
let loading: Promise<typeof import('isomorphic-git').default> | undefined;

export function isoGit(): Promise<typeof import('isomorphic-git').default> {
  return (loading ??= import('isomorphic-git').then((module) => module.default));
}
