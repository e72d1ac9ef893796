/**
 * Lag on the mirror's own clock. A manifest's `last_updated_ms` is the
 * writer's clock, which can be hours off: trusted as is, a fast writer would
 * hide an outage (lag 0) and a slow one would alarm at every commit. So each
 * commit time is clamped into the window in which the mirror saw the version
 * appear: after the last look at the source that did not show it, at or
 * before the first look that did.
 *
 * A mirror whose ticks fail cannot prove it is caught up: its lag is counted
 * from its last successful look at the source (or from its start), so an
 * outage of the source or the target shows as growing lag, never 0 or null.
 */
export class LagClock {
  readonly #now: () => number;
  readonly #startedAt: number;
  /** Windows in which versions up to `upTo` appeared, oldest first. */
  #windows: Array<{ upTo: number; notBefore: number | undefined; seenAt: number }> = [];
  #lastCheck: { at: number; head: number } | undefined;
  /** Commit time (writer's clock) of the oldest version not yet handled, once its manifest is read. */
  #oldestCommit: { version: number; ms: number } | undefined;
  #attempted = false;
  #failing = false;

  constructor(now: () => number) {
    this.#now = now;
    this.#startedAt = now();
  }

  /**
   * What an earlier run of this mirror saw (saved progress): versions up to
   * its head existed at its last look, and the ones after appeared since.
   * Refines the window of this run's first look; later windows are exact.
   */
  restore(earlier: { atMs: number; head: number }): void {
    const first = this.#windows[0];
    if (first === undefined || first.notBefore !== undefined || earlier.atMs > first.seenAt) return;
    if (earlier.head >= first.upTo) {
      first.seenAt = earlier.atMs;
      return;
    }
    first.notBefore = earlier.atMs;
    this.#windows.unshift({ upTo: earlier.head, notBefore: undefined, seenAt: earlier.atMs });
  }

  /**
   * Forgets which versions were seen when (the mirror dropped what it believed
   * of its target): the versions after `handled` up to `head` are pending
   * again, as of now, until their manifests say when they were committed.
   */
  reopen(head: number, handled: number): void {
    this.#windows = head > handled ? [{ upTo: head, notBefore: undefined, seenAt: this.#now() }] : [];
    this.#oldestCommit = undefined;
  }

  /** The last successful look at the source, to persist. */
  get lastCheck(): { atMs: number; head: number } | undefined {
    return this.#lastCheck ? { atMs: this.#lastCheck.at, head: this.#lastCheck.head } : undefined;
  }

  /** A successful look at the source found `head`, with versions up to `handled` done. */
  sourceChecked(head: number, handled: number): void {
    const now = this.#now();
    if (this.#lastCheck !== undefined && head < this.#lastCheck.head) {
      // The source's HEAD went back (a posix primary rolled back): the versions
      // above it are gone, those up to it are pending since the oldest sighting.
      const pending = this.#windows.filter((w) => w.upTo > handled);
      const seenAt = pending[0]?.seenAt ?? now;
      this.#windows = head > handled ? [{ upTo: head, notBefore: undefined, seenAt }] : [];
      this.#oldestCommit = undefined;
      this.#lastCheck = { at: now, head };
      this.handled(handled);
      return;
    }
    const known = this.#lastCheck?.head ?? handled;
    if (head > known) this.#windows.push({ upTo: head, notBefore: this.#lastCheck?.at, seenAt: now });
    this.#lastCheck = { at: now, head: Math.max(head, this.#lastCheck?.head ?? 0) };
    this.handled(handled);
  }

  /** The manifest of `version` (the oldest not handled) says it was committed at `ms` (writer's clock). */
  committed(version: number, ms: number): void {
    if (ms > 0) this.#oldestCommit = { version, ms };
  }

  /** Versions up to `version` are mirrored or skipped. */
  handled(version: number): void {
    this.#windows = this.#windows.filter((w) => w.upTo > version);
    if (this.#oldestCommit && this.#oldestCommit.version <= version) this.#oldestCommit = undefined;
  }

  /** A tick ended, successfully or not. */
  tickEnded(ok: boolean): void {
    this.#attempted = true;
    this.#failing = !ok;
  }

  /**
   * Milliseconds since the oldest source commit not yet handled (after
   * `handled`), clamped as described above; while ticks fail, at least the
   * time since the last successful look at the source. `null` before the
   * first tick.
   */
  lagMs(handled: number): number | null {
    if (!this.#attempted) return null;
    const now = this.#now();
    let since: number | undefined;
    const w = this.#windows.find((x) => x.upTo > handled);
    if (w) {
      const c = this.#oldestCommit?.version === handled + 1 ? this.#oldestCommit.ms : undefined;
      since = c === undefined ? w.seenAt : Math.min(w.seenAt, Math.max(c, w.notBefore ?? c));
    } else if (this.#failing) {
      since = this.#lastCheck?.at ?? this.#startedAt;
    }
    return since === undefined ? 0 : Math.max(0, now - since);
  }
}

/** What a lag alert says. */
export interface LagAlert {
  lagSeconds: number;
  mirrorSeq: number;
  sourceHead: number;
}

/**
 * Fires a mirror's `onLagAlert` when the lag reaches `alertSecs`, at most
 * once per `alertSecs` while it stays there, and again after it came back
 * to 0 (0 `alertSecs`: never).
 */
export class LagAlerts {
  readonly #alertSecs: number;
  readonly #now: () => number;
  readonly #onAlert: ((alert: LagAlert) => void) | undefined;
  #lastAlertMs: number | undefined;

  constructor(alertSecs: number, now: () => number, onAlert: ((alert: LagAlert) => void) | undefined) {
    this.#alertSecs = alertSecs;
    this.#now = now;
    this.#onAlert = onAlert;
  }

  check(lagSeconds: number | null, mirrorSeq: number, sourceHead: number): void {
    if (lagSeconds === null) return;
    if (this.#alertSecs <= 0 || lagSeconds < this.#alertSecs) {
      if (lagSeconds === 0) this.#lastAlertMs = undefined;
      return;
    }
    const now = this.#now();
    if (this.#lastAlertMs !== undefined && now - this.#lastAlertMs < this.#alertSecs * 1000) return;
    this.#lastAlertMs = now;
    try {
      this.#onAlert?.({ lagSeconds, mirrorSeq, sourceHead });
    } catch {
      // A throwing callback must not break the loop.
    }
  }
}
