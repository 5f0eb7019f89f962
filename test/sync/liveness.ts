// Liveness for sync tests: waiting for "pending == 0" with only a test
// timeout would turn a wedged queue into a slow, vague failure. This fails
// fast and says so when the pending count does not shrink for `stallMs`
// while the box reports itself connected. It is a bound on progress, not a
// latency assertion: generous on purpose (2 shared cores).

export interface SyncProgress {
  connected: boolean;
  pending: number;
}

export interface DrainOptions {
  stallMs?: number;
  pollMs?: number;
  /** Extra condition that must hold too (e.g. HQ's view caught up). */
  also?: () => Promise<boolean>;
  /** Give up entirely after this long even if progress continues (default 180 s). */
  overallMs?: number;
}

export class LivenessError extends Error {}

export async function drainWithLiveness(status: () => Promise<SyncProgress>, opts: DrainOptions = {}): Promise<void> {
  const stallMs = opts.stallMs ?? 30_000;
  const pollMs = opts.pollMs ?? 100;
  const t0 = Date.now();
  let best = Number.POSITIVE_INFINITY;
  let connectedSinceProgress = 0;
  let last = Date.now();
  for (;;) {
    let s: SyncProgress | undefined;
    try {
      s = await status();
    } catch {
      s = undefined; // box restarting: not connected
    }
    const now = Date.now();
    if (s && s.pending === 0 && (!opts.also || (await opts.also()))) return;
    if (s && s.pending < best) {
      best = s.pending;
      connectedSinceProgress = 0;
    } else if (s?.connected) {
      connectedSinceProgress += now - last;
    }
    last = now;
    if (connectedSinceProgress > stallMs) {
      throw new LivenessError(`liveness: pending stuck at ${s?.pending} for ${Math.round(connectedSinceProgress / 1000)} s while connected`);
    }
    if (now - t0 > (opts.overallMs ?? 180_000)) throw new LivenessError(`liveness: not drained after ${Math.round((now - t0) / 1000)} s (pending ${s?.pending})`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
