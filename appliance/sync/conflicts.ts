import type { ConflictNotice } from '../../contract/sync.ts';
import type { Logger } from '../log.ts';
import { CoalescedWriter, RELAXED_WRITE_INTERVAL_MS, readJson } from './durable-file.ts';

// Conflict notices HQ sent with acks or later updates (resolutions), kept by
// id in <stateDir>/sync/conflicts.json so staff can see them offline.

const MAX_KEPT = 5000;

export class ConflictStore {
  readonly #file: string;
  readonly #log: Logger;
  readonly #byId = new Map<string, ConflictNotice>();
  readonly #writer: CoalescedWriter;

  constructor(file: string, log: Logger) {
    this.#file = file;
    this.#log = log;
    this.#writer = new CoalescedWriter(
      file,
      () => [...this.#byId.values()],
      (err) => log.error({ err, file }, 'cannot persist conflicts'),
      { minIntervalMs: RELAXED_WRITE_INTERVAL_MS },
    );
  }

  async load(): Promise<void> {
    try {
      const raw = await readJson(this.#file);
      if (Array.isArray(raw)) for (const c of raw as ConflictNotice[]) this.#byId.set(c.id, c);
    } catch (err) {
      this.#log.error({ err, file: this.#file }, 'conflicts file unreadable; HQ still holds them');
    }
  }

  /** Records notices (new or updated); returns how many were new. */
  record(notices: readonly ConflictNotice[]): number {
    let fresh = 0;
    for (const n of notices) {
      if (!this.#byId.has(n.id)) fresh += 1;
      this.#byId.delete(n.id);
      this.#byId.set(n.id, n);
      this.#log.warn({ id: n.id, kind: n.kind, status: n.status, seq: n.seq, sku: n.sku }, 'HQ conflict notice');
    }
    while (this.#byId.size > MAX_KEPT) {
      const oldest = this.#byId.keys().next().value as string;
      this.#byId.delete(oldest);
    }
    if (notices.length > 0) void this.#writer.save();
    return fresh;
  }

  list(): ConflictNotice[] {
    return [...this.#byId.values()];
  }

  counts(): { total: number; open: number; held: number; resolved: number } {
    const c = { total: 0, open: 0, held: 0, resolved: 0 };
    for (const n of this.#byId.values()) {
      c.total += 1;
      c[n.status] += 1;
    }
    return c;
  }

  flush(): Promise<void> {
    return this.#writer.flush();
  }
}
