import { statfsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { isDiskFullError, writeFileAtomic } from '../../lib/atomic-file.ts';
import type { Logger } from '../log.ts';

// Watches the free space of the state dir's filesystem and decides whether
// the box may take new sales (issue 8: a full SD card lost acknowledged sales).
//
// - Below `minFree` the guard is `full`: the journal refuses new events with
//   TB_DISK_FULL (HTTP 503 disk-full), /healthz answers 503, and the box
//   status says so. The threshold sits above zero so the journal, the broker
//   and the small state files are not the ones that hit ENOSPC first.
// - A reserve file is held while space is fine and deleted the moment the disk
//   is full, which gives LevelDB room to reopen and recover its log, and core
//   room to write its status. It is written as zeros (not sparse) so its
//   blocks are really taken on ext4, f2fs and tmpfs.
// - `full` ends by itself when free space (with the reserve released) is back
//   above minFree + reserve, i.e. the reserve can be taken again and still
//   leave minFree: the gap is the hysteresis that keeps it from flapping.
// - A store that hits ENOSPC anyway (a racing writer filled the disk between
//   two checks) calls reportWriteError(), which checks at once.

export const RESERVE_FILE = 'space-reserve';

export interface StorageGuardContext {
  /** The state dir: its filesystem is the one watched, the reserve lives in it. */
  dir: string;
  minFreeBytes: number;
  reserveBytes: number;
  checkIntervalMs: number;
  log: Logger;
  /** Injectable for tests: free and total bytes of the filesystem holding `dir`. */
  statfs?: (dir: string) => { freeBytes: number; totalBytes: number };
}

export interface StorageStatus {
  state: 'ok' | 'full';
  freeBytes: number;
  totalBytes: number;
  /** Effective threshold and reserve (the configured ones, capped to the filesystem's size). */
  minFreeBytes: number;
  reserveBytes: number;
  reserveHeld: boolean;
  /** ISO time the current state began. */
  since: string;
  /** Times the disk was found full since start. */
  fullEpisodes: number;
}

function realStatfs(dir: string): { freeBytes: number; totalBytes: number } {
  const s = statfsSync(dir);
  // bavail: what an unprivileged writer can still use (ext4 keeps 5 % for root).
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

export class StorageGuard {
  readonly #ctx: StorageGuardContext;
  readonly #statfs: (dir: string) => { freeBytes: number; totalBytes: number };
  readonly #reserveFile: string;
  readonly #listeners = new Set<(status: StorageStatus) => void>();
  #status: StorageStatus;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #again = false;

  constructor(ctx: StorageGuardContext) {
    this.#ctx = ctx;
    this.#statfs = ctx.statfs ?? realStatfs;
    this.#reserveFile = join(ctx.dir, RESERVE_FILE);
    this.#status = {
      state: 'ok',
      freeBytes: 0,
      totalBytes: 0,
      minFreeBytes: ctx.minFreeBytes,
      reserveBytes: ctx.reserveBytes,
      reserveHeld: false,
      since: new Date().toISOString(),
      fullEpisodes: 0,
    };
  }

  get status(): StorageStatus {
    return { ...this.#status };
  }

  get full(): boolean {
    return this.#status.state === 'full';
  }

  /** The error a write should fail with now, or undefined when writing is fine. */
  refusal(): TillboxError | undefined {
    if (!this.full) return undefined;
    return diskFullError(this.#status);
  }

  onChange(listener: (status: StorageStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async start(): Promise<void> {
    try {
      this.#status.reserveHeld = (await stat(this.#reserveFile)).size >= this.#effective().reserveBytes;
    } catch {
      this.#status.reserveHeld = false;
    }
    await this.check();
    this.#timer = setInterval(() => void this.check(), this.#ctx.checkIntervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  /** A store's write failed: if the disk is full, act on it now rather than at the next tick. */
  reportWriteError(err: unknown): void {
    if (isDiskFullError(err)) void this.check();
  }

  /** Re-reads free space and updates the state (coalesced: one check at a time). */
  check(): Promise<void> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce();
      } while (this.#again);
    })().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Threshold and reserve capped to the filesystem, so a small disk (a test tmpfs, a tiny SD card) still works. */
  #effective(): { minFreeBytes: number; reserveBytes: number } {
    const total = this.#status.totalBytes || Number.MAX_SAFE_INTEGER;
    return {
      minFreeBytes: Math.min(this.#ctx.minFreeBytes, Math.floor(total * 0.1)),
      reserveBytes: Math.min(this.#ctx.reserveBytes, Math.floor(total * 0.05)),
    };
  }

  async #checkOnce(): Promise<void> {
    let fs: { freeBytes: number; totalBytes: number };
    try {
      fs = this.#statfs(this.#ctx.dir);
    } catch (err) {
      this.#ctx.log.error({ err }, 'cannot read free disk space of the state dir');
      return;
    }
    const s = this.#status;
    s.freeBytes = fs.freeBytes;
    s.totalBytes = fs.totalBytes;
    const { minFreeBytes, reserveBytes } = this.#effective();
    s.minFreeBytes = minFreeBytes;
    s.reserveBytes = reserveBytes;
    if (s.state === 'ok') {
      if (fs.freeBytes >= minFreeBytes) {
        if (!s.reserveHeld && reserveBytes > 0 && fs.freeBytes >= minFreeBytes + reserveBytes) await this.#takeReserve(reserveBytes);
        return;
      }
      await this.#releaseReserve();
      this.#set('full');
      this.#ctx.log.error({ freeMB: mb(fs.freeBytes), minFreeMB: mb(minFreeBytes) }, 'disk full: new sales are refused until space is freed');
      return;
    }
    // full (the reserve is released): leave it only when the reserve can be
    // taken back and minFree still remains.
    if (fs.freeBytes < minFreeBytes + reserveBytes) return;
    if (reserveBytes > 0 && !(await this.#takeReserve(reserveBytes))) return;
    s.freeBytes = this.#statfs(this.#ctx.dir).freeBytes;
    this.#set('ok');
    this.#ctx.log.warn({ freeMB: mb(s.freeBytes) }, 'disk space is back: selling resumes');
  }

  async #takeReserve(bytes: number): Promise<boolean> {
    try {
      // crash-safe is enough: the reserve only needs its blocks, and after a
      // power cut start() finds it (or not) and takes it again.
      await writeFileAtomic(this.#reserveFile, Buffer.alloc(bytes), { durability: 'crash-safe' });
      this.#status.reserveHeld = true;
      return true;
    } catch (err) {
      if (!isDiskFullError(err)) this.#ctx.log.error({ err }, 'cannot write the disk space reserve');
      return false;
    }
  }

  async #releaseReserve(): Promise<void> {
    await rm(this.#reserveFile, { force: true }).catch((err: unknown) => this.#ctx.log.error({ err }, 'cannot release the disk space reserve'));
    this.#status.reserveHeld = false;
  }

  #set(state: StorageStatus['state']): void {
    const s = this.#status;
    if (s.state === state) return;
    s.state = state;
    s.since = new Date().toISOString();
    if (state === 'full') s.fullEpisodes += 1;
    const snapshot = this.status;
    for (const l of [...this.#listeners]) {
      try {
        l(snapshot);
      } catch (err) {
        this.#ctx.log.error({ err }, 'storage listener threw');
      }
    }
  }
}

export function diskFullError(status: Pick<StorageStatus, 'freeBytes' | 'minFreeBytes'>): TillboxError {
  return new TillboxError(ErrorCode.DiskFull, 'the disk is full: sales are refused until space is freed on the box', {
    retryable: true,
    detail: { freeMB: mb(status.freeBytes), minFreeMB: mb(status.minFreeBytes) },
  });
}

const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
