// MirrorPusher: keeps the mirror branch and its HTTP(S) remote in step (coalesced pushes, fast-forward pulls of
// commits a person pushed to the remote), with retries and backoff outside the commit path.
import fs from 'node:fs';
import git from 'isomorphic-git';
import type { MirrorRepository } from './repository.ts';

/**
 * Keeps the mirror branch and its HTTP(S) remote in step. After commits the branch is pushed, coalescing: while a
 * push runs, later requests collapse into one more push of the newest head. Commits a person pushed to the remote
 * (a `git revert`, a fix) are pulled: when the remote branch is ahead of the local one it is fast-forwarded, the
 * caller is told (to pause capture of those objects and synchronize), and the mirror writer's next batch goes on top.
 * Failures are retried with backoff and reported, never thrown into the commit path.
 */
export class MirrorPusher {
  private readonly repository: MirrorRepository;
  private readonly url: string;
  private readonly token: string | undefined;
  private readonly onError: (error: Error, attempt: number) => void;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private remoteConfigured = false;
  lastPushed: string | undefined;
  /** Called after commits from the remote were fast-forwarded into the local branch. */
  onRemoteCommits: ((from: string | undefined, to: string) => Promise<void>) | undefined;

  constructor(repository: MirrorRepository, url: string, options: { token?: string; onError?: (error: Error, attempt: number) => void } = {}) {
    this.repository = repository;
    this.url = url;
    this.token = options.token;
    this.onError = options.onError ?? (() => {});
  }

  /** Pulls and pushes, coalesced with any run in progress. */
  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pushWithRetries();
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Also looks at the remote every `intervalMs`, so commits pushed there are picked up without local activity. */
  start(intervalMs: number): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.request().finally(() => this.timer && tick()), intervalMs);
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Once, now: fetches the remote branch and fast-forwards the local one (a mirror that only recovers, written by
   * another cluster's operator). Throws when the remote cannot be fetched; answers the remote head.
   */
  async fetchNow(): Promise<string | undefined> {
    const http = (await import('isomorphic-git/http/node')).default;
    return this.pull(http);
  }

  private auth() {
    const token = this.token;
    return token ? () => ({ username: 'lifeboat', password: token }) : undefined;
  }

  /** Fetches the remote branch; fast-forwards the local one when the remote is ahead. Returns the remote head. */
  private async pull(http: Parameters<typeof git.fetch>[0]['http']): Promise<string | undefined> {
    // isomorphic-git fetches through a configured remote (its refspec says where the remote branch goes).
    if (!this.remoteConfigured) await git.addRemote({ fs, gitdir: this.repository.gitdir, remote: 'mirror-remote', url: this.url, force: true });
    this.remoteConfigured = true;
    const fetched = await git.fetch({ fs, http, gitdir: this.repository.gitdir, remote: 'mirror-remote', ref: this.repository.branch, singleBranch: true, tags: false, onAuth: this.auth() });
    const remote = fetched.fetchHead ?? undefined;
    const local = await this.repository.head();
    if (!remote || remote === local) return remote;
    const ahead = !local || (await git.isDescendent({ fs, gitdir: this.repository.gitdir, oid: remote, ancestor: local, depth: -1 }));
    if (!ahead) return remote;
    // Under the same lock and compare-and-swap as a commit: a batch committed meanwhile is not overwritten.
    if (!(await this.repository.fastForward(local, remote))) return remote;
    this.lastPushed = remote;
    await this.onRemoteCommits?.(local, remote);
    return remote;
  }

  private async pushWithRetries(): Promise<void> {
    const http = (await import('isomorphic-git/http/node')).default;
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const remote = await this.pull(http).catch((error: Error) => {
          // An empty remote has no branch to fetch yet: the push below creates it.
          if (/Could not find|not found|NotFoundError/i.test(error.message)) return undefined;
          throw error;
        });
        const head = await this.repository.head();
        if (!head || head === this.lastPushed || head === remote) {
          this.lastPushed = head ?? this.lastPushed;
          return;
        }
        const result = await git.push({
          fs, http, gitdir: this.repository.gitdir, url: this.url, ref: this.repository.branch, remoteRef: this.repository.branch, onAuth: this.auth(),
        });
        if (!result.ok) throw new Error(`push to ${this.url} was refused: ${JSON.stringify(result.refs)}`);
        this.lastPushed = head;
        return;
      } catch (error) {
        this.onError(error as Error, attempt);
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 15_000)));
      }
    }
  }
}
