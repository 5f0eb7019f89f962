import type { Level } from 'level';

// The broker store's group-commit writer (appliance/broker/persistence.ts
// header: ordering, fsync policy, failure semantics).

type BrokerDb = Level<string, Buffer>;

/** Bytes of recently committed values kept for reads (see GroupCommit). */
const CACHE_BYTES = 4 * 1024 * 1024;
/** Longest a lazy op (see GroupCommit.put) waits for a batch to join. */
const LAZY_MS = 10;

const BUFFER = { valueEncoding: 'buffer' } as const;
/** Written with fsync by durable(); its value is the time of the call. */
const SYNC_KEY = 'meta:durable';
/**
 * A key range no stored key falls in (every key starts with a lowercase
 * prefix): durable() compacts it, so LevelDB flushes its memtable and
 * compacts no table file.
 */
const EMPTY_RANGE = '\u0001';

type Op = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

interface Known {
  value: Buffer | undefined;
  /** The batch that will write `value`; unset once it is on disk. */
  batch: Batch | undefined;
  /** Position of the key's op in batch.ops. */
  index: number;
}

interface Batch {
  ops: Op[];
  /** Someone waits for this batch (any op not queued as lazy). */
  urgent: boolean;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A failed batch is reported to every waiter; keep an unobserved one quiet.
  done.catch(() => {});
  return { ops: [], urgent: false, done, resolve, reject };
}

/**
 * Group-commit writer: ops join the open batch; one batch is in flight at a
 * time; the overlay answers point reads for ops not yet on disk, and a small
 * cache of recently written values answers reads of what was just committed
 * (aedes reads back the packet it enqueued, and the entry it updated, a
 * moment later) without a trip through the LevelDB thread pool.
 */
export class GroupCommit {
  readonly #db: BrokerDb;
  readonly #sync: boolean;
  /**
   * What is known of a key without reading the disk. `batch` set: the value
   * (undefined = deleted) of the latest op, not yet written. `batch` unset: a
   * value just written (a read cache, bounded by CACHE_BYTES, oldest out
   * first; a written delete simply drops the entry). Every write goes through
   * this object, so an entry is never stale.
   */
  readonly #known = new Map<string, Known>();
  #cachedBytes = 0;
  #open: Batch = newBatch();
  #inflight: Batch | undefined = undefined;
  #scheduled = false;
  #lazyTimer: NodeJS.Timeout | undefined = undefined;
  #failed: unknown = undefined;
  /** A batch was written without fsync since the last durable() (see there). */
  #unsynced = false;
  /** The flush durable() has in progress. */
  #durable: Promise<void> | undefined = undefined;
  readonly #onFailure: (err: unknown) => void;

  constructor(db: BrokerDb, sync: boolean, onFailure: (err: unknown) => void) {
    this.#db = db;
    this.#sync = sync;
    this.#onFailure = onFailure;
  }

  /**
   * After the database was reopened: forget every overlay and cache entry
   * (the disk is the truth again) and take ops again.
   */
  reset(): void {
    this.#known.clear();
    this.#cachedBytes = 0;
    if (this.#lazyTimer) clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    this.#open = newBatch();
    this.#failed = undefined;
    // Recovery reopened the database: LevelDB replayed its logs into a new
    // memtable, so what was unsynced may still be (write() fsyncs nothing).
    this.#unsynced = true;
  }

  /** Why later ops will fail (a batch write failed), if so. */
  get failed(): unknown {
    return this.#failed;
  }

  /**
   * Queues a put. A lazy op does not start a write of its own: it joins the
   * next batch someone waits for, or is written LAZY_MS later if none comes.
   */
  put(key: string, value: Buffer, lazy = false): Promise<void> {
    return this.#add({ type: 'put', key, value }, lazy);
  }

  del(key: string, lazy = false): Promise<void> {
    return this.#add({ type: 'del', key }, lazy);
  }

  /**
   * The latest value of a key if it is known without reading the disk: a
   * Buffer, `null` if deleted, `undefined` if it has to be read.
   */
  peek(key: string): Buffer | null | undefined {
    const e = this.#known.get(key);
    if (!e) return undefined;
    return e.value ?? null;
  }

  /** True when an op on the key is queued and not yet written (as opposed to a cached value). */
  isPending(key: string): boolean {
    return this.#known.get(key)?.batch !== undefined;
  }

  /** Keys pending under a prefix (for range deletes). */
  pendingKeys(prefix: string): string[] {
    const out: string[] = [];
    for (const [k, e] of this.#known) if (e.batch && k.startsWith(prefix)) out.push(k);
    return out;
  }

  /**
   * Resolves once every op queued so far is written to LevelDB: visible to
   * reads, in the kernel's page cache, fsync'd only if its batch was (see
   * durable()).
   */
  barrier(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#open.ops.length > 0) {
      this.#open.urgent = true;
      this.#schedule();
      return this.#open.done;
    }
    if (this.#inflight) return this.#inflight.done;
    return Promise.resolve();
  }

  /**
   * Resolves once every op queued so far would survive a power cut (with
   * sync: true; with sync: false the same as barrier()). For a clean stop and
   * flushed(): a batch of lazy bookkeeping was written without fsync, and a
   * stop that only closes LevelDB fsyncs nothing (LevelDB closes its log
   * without one), so a power cut after a clean stop lost the subscribers'
   * acknowledgements and resent what they had acknowledged.
   *
   * A synced write of a key alone does not cover an earlier unsynced batch
   * once LevelDB has switched to a new log file between them (its memtable
   * filled): the fsync reaches only the new log, and the old one is synced
   * only when its memtable has been compacted into a table file. So when
   * anything was written unsynced, durable() has LevelDB flush its memtables
   * into table files (compactRange runs a memtable compaction first, and
   * table files and the manifest are fsync'd; the range is chosen to hold no
   * key, so no table is compacted), then writes one key with fsync, which
   * also reports a failed background flush (LevelDB refuses writes after
   * one; compactRange itself does not report it).
   */
  async durable(): Promise<void> {
    await this.barrier();
    if (!this.#sync) return;
    // One in progress may have begun before this call's ops were written:
    // wait for it, then look again.
    while (this.#durable) await this.#durable.catch(() => undefined);
    if (!this.#unsynced) return;
    this.#unsynced = false;
    const run = (async () => {
      try {
        // `level` types the browser's database too; on Node it is classic-level, which has it.
        await (this.#db as unknown as { compactRange(start: string, end: string): Promise<void> }).compactRange(EMPTY_RANGE, EMPTY_RANGE);
        await this.#db.put(SYNC_KEY, Buffer.from(String(Date.now())), { sync: true, valueEncoding: 'buffer' });
      } catch (err) {
        this.#unsynced = true;
        throw err;
      }
    })();
    this.#durable = run;
    try {
      await run;
    } finally {
      this.#durable = undefined;
    }
  }

  #add(op: Op, lazy: boolean): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const batch = this.#open;
    if (!lazy) batch.urgent = true;
    const value = op.type === 'put' ? op.value : undefined;
    const e = this.#known.get(op.key);
    if (!e) {
      this.#known.set(op.key, { value, batch, index: batch.ops.push(op) - 1 });
    } else if (e.batch === batch) {
      // A batch is written atomically and only the last op on a key decides
      // its state, so a later op on the key replaces the earlier one in place
      // (e.g. a subscriber's PUBACK clearing what its delivery just updated).
      batch.ops[e.index] = op;
      e.value = value;
    } else {
      if (!e.batch) this.#cachedBytes -= e.value!.length + op.key.length;
      e.value = value;
      e.batch = batch;
      e.index = batch.ops.push(op) - 1;
    }
    this.#schedule();
    return batch.done;
  }

  /** After `batch` is written: its entries become cache entries (or go, for deletes). */
  #written(batch: Batch): void {
    for (const op of batch.ops) {
      const e = this.#known.get(op.key);
      // Otherwise a later batch owns the key.
      if (!e || e.batch !== batch) continue;
      if (e.value === undefined) {
        this.#known.delete(op.key);
      } else {
        e.batch = undefined;
        this.#cachedBytes += e.value.length + op.key.length;
      }
    }
    if (this.#cachedBytes <= CACHE_BYTES) return;
    for (const [k, e] of this.#known) {
      if (e.batch) continue;
      this.#known.delete(k);
      this.#cachedBytes -= e.value!.length + k.length;
      if (this.#cachedBytes <= CACHE_BYTES / 2) break;
    }
  }

  #schedule(): void {
    if (this.#inflight || this.#scheduled || this.#open.ops.length === 0) return;
    if (!this.#open.urgent) {
      // Only lazy ops: wait for a batch someone waits for, so the commit
      // carrying the next PUBACKs is not queued behind a bookkeeping write.
      this.#lazyTimer ??= setTimeout(() => {
        this.#lazyTimer = undefined;
        void this.#flush();
      }, LAZY_MS).unref();
      return;
    }
    this.#scheduled = true;
    // setImmediate lets every op issued in this turn of the event loop join.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  /**
   * One atomic LevelDB write of the ops. Through a chained batch rather than
   * db.batch(array): classic-level reads each op of an array back with five
   * property lookups from C++, which made the array form cost ~40k
   * instructions per message (a put and a del) against ~26k chained
   * (callgrind, 20,000 messages).
   */
  async #write(ops: Op[], sync: boolean): Promise<void> {
    const chain = this.#db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') chain.put(op.key, op.value, BUFFER);
        else chain.del(op.key);
      }
    } catch (err) {
      await chain.close();
      throw err;
    }
    await chain.write({ sync });
  }

  async #flush(): Promise<void> {
    if (this.#inflight || this.#open.ops.length === 0) return;
    if (this.#lazyTimer) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    const batch = this.#open;
    this.#open = newBatch();
    this.#inflight = batch;
    try {
      // A batch of lazy ops only (delivery bookkeeping nobody waits for) is
      // not fsync'd on its own (issue 14): the next synced batch's fsync of
      // the same LevelDB log covers it (not if LevelDB switched to a new log
      // in between: the old one is synced once its memtable is in a table
      // file), and losing it to a power cut before then costs a QoS 1
      // resend, which at-least-once allows (see persistence.ts). durable()
      // covers it for a clean stop. At store load they were ~0.85 of the ~4 LevelDB
      // fsyncs core made per sale, each one queued in front of the journal's.
      const sync = this.#sync && batch.urgent;
      if (!sync) this.#unsynced = true;
      await this.#write(batch.ops, sync);
      this.#written(batch);
      batch.resolve();
    } catch (err) {
      // The disk no longer follows the op sequence: fail everything until the
      // database is reopened, rather than acknowledge what was not stored.
      this.#failed = err;
      batch.reject(err);
      this.#open.reject(err);
      this.#onFailure(err);
    } finally {
      this.#inflight = undefined;
      if (this.#failed === undefined) this.#schedule();
    }
  }
}
