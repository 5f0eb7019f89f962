import type { CatalogData } from '../../contract/pos.ts';
import type { CatalogChange, CatalogResyncRequest, CatalogUpdate } from '../../contract/sync.ts';
import type { Logger } from '../log.ts';
import { readJson, writeJsonDurable } from './durable-file.ts';

// Downstream catalog: versioned updates from HQ applied strictly in order.
// A `full` update replaces everything; a `delta` applies only on top of the
// version it was made from. Anything else (a lost delta, a restart that
// missed one) makes the box ask for a full catalog and ignore deltas until it
// arrives. The applied version and data are persisted (fsync'd) before the
// POS sees them, so a restart comes back with the same catalog.

export interface CatalogSyncContext {
  file: string;
  deviceId: string;
  log: Logger;
  /** Makes the catalog live in the POS; throws when the data is unusable. */
  apply: (data: CatalogData) => void;
  /** Sends a CatalogResyncRequest upstream (fails quietly when offline; retried on reconnect). */
  requestResync: (request: CatalogResyncRequest) => Promise<void>;
}

interface Stored {
  version: number;
  data: CatalogData;
  appliedAt: string;
}

export interface CatalogSyncStatus {
  version: number | null;
  appliedAt: string | null;
  awaitingFull: boolean;
  applied: number;
  ignored: number;
  resyncRequests: number;
  lastError: string | null;
}

export class CatalogSync {
  readonly #ctx: CatalogSyncContext;
  #current: Stored | undefined;
  #awaitingFull = false;
  #chain: Promise<void> = Promise.resolve();
  #applied = 0;
  #ignored = 0;
  #resyncRequests = 0;
  #lastError: string | null = null;

  constructor(ctx: CatalogSyncContext) {
    this.#ctx = ctx;
  }

  get version(): number | null {
    return this.#current?.version ?? null;
  }

  status(): CatalogSyncStatus {
    return {
      version: this.version,
      appliedAt: this.#current?.appliedAt ?? null,
      awaitingFull: this.#awaitingFull,
      applied: this.#applied,
      ignored: this.#ignored,
      resyncRequests: this.#resyncRequests,
      lastError: this.#lastError,
    };
  }

  /** Loads the persisted catalog and makes it live (call after the POS started). */
  async load(): Promise<void> {
    let raw: unknown;
    try {
      raw = await readJson(this.#ctx.file);
    } catch (err) {
      this.#ctx.log.error({ err, file: this.#ctx.file }, 'persisted HQ catalog unreadable; asking HQ for a full one');
      this.#awaitingFull = true;
      return;
    }
    if (raw === undefined) return;
    const stored = raw as Stored;
    try {
      this.#ctx.apply(stored.data);
      this.#current = stored;
      this.#ctx.log.info({ version: stored.version }, 'HQ catalog restored');
    } catch (err) {
      this.#lastError = (err as Error).message;
      this.#awaitingFull = true;
      this.#ctx.log.error({ err, version: stored.version }, 'persisted HQ catalog cannot be applied; asking HQ for a full one');
    }
  }

  /** Called on every (re)connect: ask again if a full catalog is still owed. */
  onOnline(): void {
    if (this.#awaitingFull) void this.#requestResync('awaiting full catalog after reconnect');
  }

  /** Queues one update; updates are applied one at a time, in arrival order. */
  handle(update: CatalogUpdate): Promise<void> {
    this.#chain = this.#chain
      .then(() => this.#handle(update))
      .catch((err: unknown) => {
        this.#lastError = (err as Error).message;
        this.#ctx.log.error({ err }, 'catalog update failed');
      });
    return this.#chain;
  }

  requestFull(reason: string): Promise<void> {
    this.#awaitingFull = true;
    return this.#requestResync(reason);
  }

  async #handle(update: CatalogUpdate): Promise<void> {
    const have = this.version;
    if (update.kind === 'full') {
      if (have !== null && update.version <= have && !this.#awaitingFull) {
        this.#ignored += 1;
        return;
      }
      await this.#commit(update.version, update.catalog);
      return;
    }
    if (have !== null && update.version <= have) {
      this.#ignored += 1; // a redelivery of something already applied
      return;
    }
    if (this.#awaitingFull || have === null || update.baseVersion !== have) {
      this.#ignored += 1;
      if (!this.#awaitingFull) {
        this.#ctx.log.warn({ have, baseVersion: update.baseVersion, version: update.version }, 'catalog delta does not follow our version; asking for a full catalog');
        await this.requestFull(`delta ${update.version} is based on ${update.baseVersion}, have ${have ?? 'none'}`);
      }
      return;
    }
    await this.#commit(update.version, applyChanges(this.#current!.data, update.changes));
  }

  async #commit(version: number, data: CatalogData): Promise<void> {
    const stored: Stored = { version, data, appliedAt: new Date().toISOString() };
    // Validate by applying to a throwaway first? apply() validates (new Catalog) before swapping.
    try {
      this.#ctx.apply(data);
    } catch (err) {
      this.#lastError = `catalog version ${version} refused: ${(err as Error).message}`;
      this.#ctx.log.error({ err, version }, 'HQ catalog refused by the POS; keeping the current one');
      this.#ignored += 1;
      return;
    }
    await writeJsonDurable(this.#ctx.file, stored);
    this.#current = stored;
    this.#awaitingFull = false;
    this.#applied += 1;
    this.#ctx.log.info({ version, items: data.items.length }, 'HQ catalog applied');
  }

  async #requestResync(reason: string): Promise<void> {
    this.#resyncRequests += 1;
    try {
      await this.#ctx.requestResync({ v: 1, deviceId: this.#ctx.deviceId, haveVersion: this.version, reason });
    } catch (err) {
      this.#ctx.log.debug({ err: (err as Error).message }, 'catalog resync request not sent (offline); retried on reconnect');
    }
  }
}

/** The catalog after a delta (pure; the result is validated when applied). */
export function applyChanges(data: CatalogData, changes: readonly CatalogChange[]): CatalogData {
  const items = new Map(data.items.map((i) => [i.sku, i]));
  for (const c of changes) {
    switch (c.op) {
      case 'upsert':
        items.set(c.item.sku, c.item);
        break;
      case 'delete':
        items.delete(c.sku);
        break;
      case 'price': {
        const item = items.get(c.sku);
        if (item) items.set(c.sku, { ...item, price: c.price });
        break;
      }
    }
  }
  return { ...data, items: [...items.values()] };
}
