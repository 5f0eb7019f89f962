import { stockMoves } from '../../contract/stock.ts';
import { randomUUID } from 'node:crypto';
import { TillboxError } from '../../contract/errors.ts';
import type { JournalEvent } from '../../contract/events.ts';
import { PosEventType, type PriceOverriddenPayload, type RefundPayload, type SalePayload, type VoidPayload } from '../../contract/pos.ts';
import type { ConflictNotice, ConflictResolution, EventBatch, SyncAck } from '../../contract/sync.ts';
import type { Logger } from '../log.ts';
import type { Db, Queryable } from './db.ts';
import { raiseConflict } from './conflicts.ts';
import { applyStockMoves } from './rules/oversell.ts';
import { checkPriceOverride } from './rules/price-override.ts';
import { hlcWallMs, iso, moveOrd, NoticeSet, toNotice, type ConflictRow, type MoveRow, type SaleLines } from './rows.ts';

export { hlcWallMs, moveOrd };

// The HQ ledger: idempotent apply of event batches (the exactly-once rule of
// contract/sync.ts), projections (sales ledger, inventory from deltas) and
// the conflict rules. Everything a batch does happens in ONE transaction that
// also moves the device's watermark; the caller acks only after it commits.
//
// Conflict rules (DESIGN.md "Sync with HQ", issue 3 §2):
// - oversell: stock moves of a (store, sku) are totally ordered by
//   `<hlc> <event id> <line>`. Walking them in that order from the catalog's
//   initial stock, a sale line of a tracked item whose running balance ends
//   below zero has a shortfall = min(line qty, -balance). Every line with a
//   shortfall > 0 gets one `oversell` conflict (open) and a compensating HQ
//   `backorder` event for the shortfall. The result depends only on the set
//   of moves, never on arrival order: a move arriving below the highest order
//   already folded in re-walks the later moves, flagging lines that now fall
//   short and auto-resolving ones that no longer do.
// - unauthorized price override: a `price.overridden` is authorized when the
//   actor is a manager AND an HQ price authorization covers (store or '*',
//   sku, price within [min, max]); otherwise an `unauthorized-price-override`
//   conflict (open) is raised for finance. The event is applied either way.
// - stale event: an event whose HLC wall time is older than the review
//   threshold (72 h default) at HQ receive time is recorded with disposition
//   `held` (no projection) and a `stale-event` conflict with status `held`.
//   The seq counts for the watermark (HQ holds the event durably, so the box
//   may mark it synced). Resolving it `accept` applies it then (with all the
//   rules above); `reject` marks it rejected, never applied.

export const DEFAULT_REVIEW_THRESHOLD_MS = 72 * 3600_000;
const MAX_APPLIED_ABOVE = 10_000;
/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = '23505';

export interface LedgerContext {
  db: Db;
  log: Logger;
  /** HQ clock in ms (tests inject one). */
  now?: () => number;
  /** Held-for-review threshold, ms (default 72 h). */
  reviewThresholdMs?: number;
}

export interface ApplyOutcome {
  ack: SyncAck;
  /** Conflicts raised or changed by this batch, for any device of the store. */
  conflicts: ConflictNotice[];
  applied: number;
  held: number;
  duplicates: number;
}

export interface DeviceView {
  deviceId: string;
  storeId: string;
  lastAppliedSeq: number;
  lastSeenAt: string | null;
  online: boolean | null;
  openConflicts: number;
  catalogVersion: number;
}

export interface StoredEvent {
  id: string;
  deviceId: string;
  storeId: string;
  seq: number;
  hlc: string;
  type: string;
  payload: unknown;
  idempotencyKey: string;
  recordedAt: string;
  receivedAt: string;
  disposition: 'applied' | 'held' | 'rejected';
}

export interface InventoryView {
  storeId: string;
  sku: string;
  /** Sum of all applied deltas (sales, refunds with restock, voids, adjustments). */
  delta: number;
  tracked: boolean;
  /** Catalog initial stock (tracked items). */
  initial: number | null;
  /** initial + delta (tracked items). */
  onHand: number | null;
}

export interface PriceAuthorization {
  id: string;
  storeId: string;
  sku: string;
  minPrice: number | null;
  maxPrice: number | null;
  note: string | null;
  createdAt: string;
}

/** An HQ request the ledger refuses; the HTTP status follows the code (contract/problem.ts). */
export class LedgerError extends TillboxError<string> {
  constructor(code: string, message: string, options: { retryable?: boolean } = {}) {
    super(code, message, options);
    this.name = 'LedgerError';
  }
}

export class Ledger {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #thresholdMs: number;

  constructor(ctx: LedgerContext) {
    this.#db = ctx.db;
    this.#log = ctx.log;
    this.#now = ctx.now ?? Date.now;
    this.#thresholdMs = ctx.reviewThresholdMs ?? DEFAULT_REVIEW_THRESHOLD_MS;
  }

  get db(): Db {
    return this.#db;
  }

  // ------------------------------------------------------------ apply

  /**
   * Applies a schema-valid batch (see ingest/validate.ts) in one transaction.
   * The returned ack may be published only after this resolves (= COMMIT).
   */
  async applyBatch(batch: EventBatch): Promise<ApplyOutcome> {
    return this.#db.transaction((tx) => this.#applyInTx(tx, batch));
  }

  async #applyInTx(tx: Queryable, batch: EventBatch): Promise<ApplyOutcome> {
    const receivedAt = new Date(this.#now());
    const { deviceId, storeId } = batch;
    await tx.query('INSERT INTO devices (device_id, store_id) VALUES ($1, $2) ON CONFLICT (device_id) DO NOTHING', [deviceId, storeId]);
    const dev = await tx.query<{ last_applied_seq: number }>('SELECT last_applied_seq FROM devices WHERE device_id = $1 FOR UPDATE', [deviceId]);
    const wm = dev.rows[0]!.last_applied_seq;
    const base = { v: 1 as const, deviceId, batchId: batch.batchId, at: receivedAt.toISOString() };
    const events = batch.events as JournalEvent[];

    if (batch.lane === 'backlog' && events[0]!.seq > wm + 1) {
      await tx.query('UPDATE devices SET last_seen_at = $2, store_id = $3 WHERE device_id = $1', [deviceId, receivedAt, storeId]);
      const above = await this.#seqsAbove(tx, deviceId, wm);
      return {
        ack: { ...base, result: 'gap', lastAppliedSeq: wm, appliedAbove: above.slice(0, MAX_APPLIED_ABOVE), expectedSeq: wm + 1, conflicts: [] },
        conflicts: [],
        applied: 0,
        held: 0,
        duplicates: 0,
      };
    }

    const candidates = events.filter((e) => e.seq > wm);
    let duplicates = events.length - candidates.length;
    const anomalies: { e: JournalEvent; reason: string }[] = [];
    const nowMs = receivedAt.getTime();
    const isHeld = (e: JournalEvent) => nowMs - hlcWallMs(e.hlc) > this.#thresholdMs;
    const inserted = new Set<number>();
    if (candidates.length > 0) {
      // Recording is one multi-row INSERT: the unique keys of `events` —
      // (device, seq), id, (device, idempotency key) — decide. The seqs HQ
      // already holds above the watermark (live-lane events, anomalies) come
      // first from one range read of the primary keys, so the common case is a
      // plain INSERT: ON CONFLICT DO NOTHING probes all three unique indexes
      // before inserting into them, half of the buffer reads of the drain's
      // costliest statement. A plain INSERT can then only fail on a reused id
      // or key (a box bug, or another device's id): it is undone to a savepoint
      // and the batch goes the careful way, INSERT … ON CONFLICT DO NOTHING and
      // the rare rest one event at a time in seq order — the same outcome as
      // checking each event in turn. Lookups by `seq = ANY(…)` /
      // `idempotency_key = ANY(…)` are avoided on the hot path: without fresh
      // statistics the planner scanned all of a device's events for them.
      const maxSeq = candidates[candidates.length - 1]!.seq;
      const heldRows = await tx.query<{ seq: number; event_id: string }>(
        `SELECT seq, event_id FROM event_anomalies WHERE device_id = $1 AND seq > $2 AND seq <= $3
         UNION ALL SELECT seq, id FROM events WHERE device_id = $1 AND seq > $2 AND seq <= $3`,
        [deviceId, wm, maxSeq],
      );
      const heldBySeq = new Map(heldRows.rows.map((r) => [r.seq, r.event_id]));
      const seenIds = new Set<string>();
      const seenKeys = new Set<string>();
      const bulk: JournalEvent[] = [];
      const oneByOne: JournalEvent[] = [];
      for (const e of candidates) {
        const had = heldBySeq.get(e.seq);
        if (had !== undefined) {
          duplicates++;
          if (had !== e.id) this.#log.warn({ deviceId, seq: e.seq, had, got: e.id }, 'seq already recorded with another event id; kept the first');
          continue;
        }
        // An event sharing an id or key with an earlier one of this batch
        // depends on that one's fate: it waits for the one-by-one pass.
        (seenIds.has(e.id) || seenKeys.has(e.idempotencyKey) ? oneByOne : bulk).push(e);
        seenIds.add(e.id);
        seenKeys.add(e.idempotencyKey);
      }
      const insert = async (list: JournalEvent[], onConflict: 'skip' | 'fail' = 'skip'): Promise<number[]> => {
        const rows = list.map((e) => ({
          device_id: deviceId,
          seq: e.seq,
          id: e.id,
          idempotency_key: e.idempotencyKey,
          store_id: e.storeId,
          type: e.type,
          hlc: e.hlc,
          payload: e.payload ?? null,
          recorded_at: e.recordedAt,
          disposition: isHeld(e) ? 'held' : 'applied',
        }));
        const r = await tx.query<{ seq: number }>(
          `INSERT INTO events (device_id, seq, id, idempotency_key, store_id, type, hlc, payload, recorded_at, received_at, disposition)
           SELECT x.device_id, x.seq, x.id, x.idempotency_key, x.store_id, x.type, x.hlc, coalesce(x.payload, 'null'::jsonb), x.recorded_at, $2, x.disposition
           FROM jsonb_to_recordset($1::jsonb) AS x(device_id text, seq bigint, id text, idempotency_key text, store_id text, type text, hlc text, payload jsonb, recorded_at text, disposition text)
           ${onConflict === 'skip' ? 'ON CONFLICT DO NOTHING ' : ''}RETURNING seq`,
          [JSON.stringify(rows), receivedAt],
        );
        return r.rows.map((x) => x.seq);
      };
      if (bulk.length > 0) {
        // Not released: it ends with the transaction, and a RELEASE would cost a round trip per batch.
        await tx.query('SAVEPOINT plain_insert');
        let plain: number[] | undefined;
        try {
          plain = await insert(bulk, 'fail');
        } catch (err) {
          if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
          await tx.query('ROLLBACK TO SAVEPOINT plain_insert');
        }
        for (const seq of plain ?? (await insert(bulk))) inserted.add(seq);
      }
      const rest = [...bulk.filter((e) => !inserted.has(e.seq)), ...oneByOne].sort((a, b) => a.seq - b.seq);
      for (const e of rest) {
        const present = await tx.query<{ id: string }>('SELECT id FROM events WHERE device_id = $1 AND seq = $2', [deviceId, e.seq]);
        if (present.rows[0]) {
          duplicates++;
          const had = present.rows[0].id;
          if (had !== e.id) this.#log.warn({ deviceId, seq: e.seq, had, got: e.id }, 'seq already recorded with another event id; kept the first');
          continue;
        }
        const byId = await tx.query('SELECT 1 FROM events WHERE id = $1', [e.id]);
        if (byId.rows.length > 0) {
          anomalies.push({ e, reason: 'duplicate-event-id' });
          continue;
        }
        const byKey = await tx.query('SELECT 1 FROM events WHERE device_id = $1 AND idempotency_key = $2', [deviceId, e.idempotencyKey]);
        if (byKey.rows.length > 0) {
          anomalies.push({ e, reason: 'duplicate-idempotency-key' });
          continue;
        }
        const ok = await insert([e]);
        // Under the device lock only another device's concurrent event can
        // take this id; let the transaction fail and the box resend.
        if (ok.length !== 1) throw new Error(`event ${e.id} (device ${deviceId} seq ${e.seq}) conflicts with a concurrent insert; retry`);
        inserted.add(e.seq);
      }
    }
    const fresh = candidates.filter((e) => inserted.has(e.seq));
    const applied: JournalEvent[] = [];
    const held: JournalEvent[] = [];
    for (const e of fresh) (isHeld(e) ? held : applied).push(e);

    for (const { e, reason } of anomalies) {
      this.#log.warn({ deviceId, seq: e.seq, id: e.id, reason }, 'event reuses an id or idempotency key; recorded as an anomaly, not applied');
      await tx.query('INSERT INTO event_anomalies (device_id, seq, event_id, reason, event, received_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)', [
        deviceId,
        e.seq,
        e.id,
        reason,
        JSON.stringify(e),
        receivedAt,
      ]);
    }

    const notices = new NoticeSet();
    if (applied.length > 0) await this.#project(tx, applied, receivedAt, notices);
    for (const e of held) {
      const ageH = ((nowMs - hlcWallMs(e.hlc)) / 3600_000).toFixed(1);
      const n = await raiseConflict(tx, this.#log, {
        dedupeKey: `stale-event:${e.id}`,
        event: e,
        kind: 'stale-event',
        status: 'held',
        detail: `${e.type} seq ${e.seq} is ${ageH} h old at HQ (review threshold ${(this.#thresholdMs / 3600_000).toFixed(1)} h): held for review, not applied`,
        at: receivedAt,
      });
      if (n) notices.add(n);
    }

    // Advance the contiguous watermark over everything recorded, including
    // live-lane events that arrived earlier above it. Every event of the batch above the watermark is recorded now (applied,
    // held, anomaly, or found present), so the batch's own contiguous run is
    // known without reading it back; only seqs beyond it are queried.
    let newWm = wm;
    for (const e of events) if (e.seq === newWm + 1) newWm++;
    let above: number[] = [];
    for (;;) {
      const seqs = await this.#seqsAbove(tx, deviceId, newWm, 20_000);
      let i = 0;
      while (i < seqs.length && seqs[i] === newWm + 1) {
        newWm++;
        i++;
      }
      if (i === seqs.length && seqs.length === 20_000) continue;
      above = seqs.slice(i, i + MAX_APPLIED_ABOVE);
      break;
    }
    await tx.query('UPDATE devices SET last_applied_seq = $2, last_seen_at = $3, store_id = $4 WHERE device_id = $1', [deviceId, newWm, receivedAt, storeId]);

    const all = notices.list();
    const recorded = fresh.length + anomalies.length;
    return {
      ack: {
        ...base,
        result: recorded > 0 ? 'applied' : 'duplicate',
        lastAppliedSeq: newWm,
        appliedAbove: above,
        conflicts: all.filter((n) => n.deviceId === deviceId),
      },
      conflicts: all,
      applied: applied.length,
      held: held.length,
      duplicates,
    };
  }

  async #seqsAbove(q: Queryable, deviceId: string, wm: number, limit = MAX_APPLIED_ABOVE): Promise<number[]> {
    const r = await q.query<{ seq: number }>(
      `SELECT seq FROM (SELECT seq FROM events WHERE device_id = $1 AND seq > $2
         UNION ALL SELECT seq FROM event_anomalies WHERE device_id = $1 AND seq > $2) s
       ORDER BY seq LIMIT $3`,
      [deviceId, wm, limit],
    );
    return r.rows.map((x) => x.seq);
  }

  /** A rejected batch's ack: the current watermark, nothing applied. */
  async rejectedAck(deviceId: string, batchId: string | undefined, reason: string): Promise<SyncAck> {
    const r = await this.#db.query<{ last_applied_seq: number }>('SELECT last_applied_seq FROM devices WHERE device_id = $1', [deviceId]);
    const wm = r.rows[0]?.last_applied_seq ?? 0;
    const ack: SyncAck = {
      v: 1,
      deviceId,
      result: 'rejected',
      lastAppliedSeq: wm,
      appliedAbove: (await this.#seqsAbove(this.#db, deviceId, wm)).slice(0, MAX_APPLIED_ABOVE),
      reason: reason.slice(0, 2000),
      conflicts: [],
      at: new Date(this.#now()).toISOString(),
    };
    if (batchId !== undefined) ack.batchId = batchId;
    return ack;
  }

  // ------------------------------------------------------------ projections

  /** Folds applied events (one store, seq order) into the sales ledger and inventory, raising conflicts. */
  async #project(tx: Queryable, events: JournalEvent[], at: Date, notices: NoticeSet): Promise<void> {
    const storeId = events[0]!.storeId;
    // Sales referenced by refunds and voids: from this batch or the ledger.
    const saleIds = new Set<string>();
    for (const e of events) {
      if (e.type === PosEventType.Refund) saleIds.add((e.payload as RefundPayload).saleId);
      if (e.type === PosEventType.Void) saleIds.add((e.payload as VoidPayload).saleId);
    }
    const sales = new Map<string, SaleLines>();
    if (saleIds.size > 0) {
      const r = await tx.query<{ event_id: string; tax: number; lines: SaleLines['lines'] }>("SELECT event_id, tax, lines FROM sales_ledger WHERE kind = 'sale' AND event_id = ANY($1)", [
        [...saleIds],
      ]);
      for (const row of r.rows) sales.set(row.event_id, { tax: row.tax, lines: row.lines });
    }

    // Refunds and voids HQ applied before their sale (e.g. a live-lane refund
    // ahead of a backlog sale, or a held sale accepted later): their restock
    // waits for the sale and happens now, once.
    const batchSaleIds = events.filter((e) => e.type === PosEventType.Sale).map((e) => e.id);
    const orphans =
      batchSaleIds.length === 0
        ? []
        : (
            await tx.query<{
              event_id: string;
              kind: 'refund' | 'void';
              sale_id: string;
              lines: { line: number; sku: string; qty: number; restock: boolean }[];
              hlc: string;
              device_id: string;
              seq: number;
              store_id: string;
            }>("SELECT event_id, kind, sale_id, lines, hlc, device_id, seq, store_id FROM sales_ledger WHERE sale_id = ANY($1) AND kind IN ('refund', 'void')", [batchSaleIds])
          ).rows;

    const ledgerRows: Record<string, unknown>[] = [];
    const moves: MoveRow[] = [];
    const move = (e: JournalEvent, line: number, sku: string, kind: string, delta: number) =>
      moves.push({ event_id: e.id, line, store_id: e.storeId, sku, hlc: e.hlc, device_id: e.deviceId, seq: e.seq, kind, delta, shortfall: 0, ord: moveOrd(e.hlc, e.id, line) });
    const ledgerRow = (e: JournalEvent, kind: string, saleId: string, currency: string, amount: number, tax: number, lines: unknown) =>
      ledgerRows.push({ event_id: e.id, device_id: e.deviceId, store_id: e.storeId, seq: e.seq, kind, sale_id: saleId, currency, amount, tax, hlc: e.hlc, recorded_at: e.recordedAt, lines });

    for (const e of events) {
      switch (e.type) {
        case PosEventType.Sale: {
          const p = e.payload as SalePayload;
          const lines = p.lines.map((l) => (l.weightGrams !== undefined ? { sku: l.sku, qty: l.qty, weightGrams: l.weightGrams } : { sku: l.sku, qty: l.qty }));
          ledgerRow(e, 'sale', e.id, p.currency, p.total, p.tax, lines);
          sales.set(e.id, { tax: p.tax, lines });
          for (const m of stockMoves(e.type, p, () => undefined)) move(e, m.line, m.sku, m.kind, m.delta);
          break;
        }
        case PosEventType.Refund: {
          const p = e.payload as RefundPayload;
          ledgerRow(
            e,
            'refund',
            p.saleId,
            p.currency,
            -p.total,
            -p.tax,
            p.lines.map((l) => ({ line: l.line, sku: l.sku, qty: l.qty, restock: l.restock })),
          );
          const sale = sales.get(p.saleId);
          if (!sale) this.#log.warn({ seq: e.seq, deviceId: e.deviceId, saleId: p.saleId }, 'refund of a sale HQ has not applied yet; restock when the sale arrives');
          for (const m of stockMoves(e.type, p, (id) => sales.get(id)?.lines)) move(e, m.line, m.sku, m.kind, m.delta);
          break;
        }
        case PosEventType.Void: {
          const p = e.payload as VoidPayload;
          const sale = sales.get(p.saleId);
          ledgerRow(e, 'void', p.saleId, p.currency, -p.total, -(sale?.tax ?? 0), []);
          if (!sale) this.#log.warn({ seq: e.seq, deviceId: e.deviceId, saleId: p.saleId }, 'void of a sale HQ has not applied yet; restock when the sale arrives');
          for (const m of stockMoves(e.type, p, (id) => sales.get(id)?.lines)) move(e, m.line, m.sku, m.kind, m.delta);
          break;
        }
        case PosEventType.InventoryAdjusted: {
          for (const m of stockMoves(e.type, e.payload, () => undefined)) move(e, m.line, m.sku, m.kind, m.delta);
          break;
        }
        case PosEventType.PriceOverridden: {
          const n = await checkPriceOverride(tx, this.#log, e as JournalEvent<PriceOverriddenPayload>, at);
          if (n) notices.add(n);
          break;
        }
        default:
          break;
      }
    }

    for (const o of orphans) {
      const sale = sales.get(o.sale_id);
      if (!sale) continue;
      const at0 = { id: o.event_id, storeId: o.store_id, hlc: o.hlc, deviceId: o.device_id, seq: o.seq } as JournalEvent;
      const payload = o.kind === 'refund' ? { saleId: o.sale_id, lines: o.lines } : { saleId: o.sale_id };
      for (const m of stockMoves(o.kind === 'refund' ? PosEventType.Refund : PosEventType.Void, payload, () => sale.lines)) move(at0, m.line, m.sku, m.kind, m.delta);
      this.#log.info({ eventId: o.event_id, saleId: o.sale_id, kind: o.kind }, 'restock of a refund/void that arrived before its sale');
    }

    if (ledgerRows.length > 0) {
      await tx.query(
        `INSERT INTO sales_ledger (event_id, device_id, store_id, seq, kind, sale_id, currency, amount, tax, hlc, recorded_at, lines)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(event_id text, device_id text, store_id text, seq bigint, kind text, sale_id text, currency text, amount bigint, tax bigint, hlc text, recorded_at text, lines jsonb)`,
        [JSON.stringify(ledgerRows)],
      );
    }
    if (moves.length > 0) await applyStockMoves(tx, this.#log, storeId, moves, at, notices);
  }

  // ------------------------------------------------------------ conflicts

  async conflicts(filter: { status?: string; deviceId?: string; limit?: number } = {}): Promise<ConflictNotice[]> {
    const r = await this.#db.query<ConflictRow>(
      `SELECT * FROM conflicts WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR device_id = $2)
       ORDER BY created_at, device_id, seq, id LIMIT $3`,
      [filter.status ?? null, filter.deviceId ?? null, filter.limit ?? 1000],
    );
    return r.rows.map(toNotice);
  }

  async conflict(id: string): Promise<ConflictNotice | undefined> {
    const r = await this.#db.query<ConflictRow>('SELECT * FROM conflicts WHERE id = $1', [id]);
    return r.rows[0] ? toNotice(r.rows[0]) : undefined;
  }

  /**
   * Records a human's resolution. A held stale event is applied on `accept`
   * (and may raise new conflicts) or marked rejected on `reject`. Returns
   * every conflict whose state changed, to be sent down to the devices.
   */
  async resolveConflict(id: string, resolution: ConflictResolution): Promise<ConflictNotice[]> {
    return this.#db.transaction(async (tx) => {
      const r = await tx.query<ConflictRow>('SELECT * FROM conflicts WHERE id = $1 FOR UPDATE', [id]);
      const c = r.rows[0];
      if (!c) throw new LedgerError('TB_NOT_FOUND', `no conflict ${id}`);
      if (c.status === 'resolved') throw new LedgerError('TB_STATE_CONFLICT', `conflict ${id} is already resolved`);
      if (resolution.decision === 'substitute' && !resolution.substituteSku) throw new LedgerError('TB_VALIDATION', 'substitute needs substituteSku');
      const at = new Date(this.#now());
      const notices = new NoticeSet();
      if (c.kind === 'stale-event') {
        if (resolution.decision !== 'accept' && resolution.decision !== 'reject') {
          throw new LedgerError('TB_VALIDATION', 'a held event is resolved with accept (apply it) or reject (never apply it)');
        }
        const ev = await tx.query<{ disposition: string } & Record<string, unknown>>('SELECT * FROM events WHERE id = $1 FOR UPDATE', [c.event_id]);
        const row = ev.rows[0];
        if (row && row.disposition === 'held') {
          if (resolution.decision === 'accept') {
            await tx.query("UPDATE events SET disposition = 'applied' WHERE id = $1", [c.event_id]);
            await this.#project(tx, [rowToEvent(row)], at, notices);
          } else {
            await tx.query("UPDATE events SET disposition = 'rejected' WHERE id = $1", [c.event_id]);
          }
        }
      }
      const u = await tx.query<ConflictRow>("UPDATE conflicts SET status = 'resolved', resolution = $2::jsonb, updated_at = $3 WHERE id = $1 RETURNING *", [id, JSON.stringify(resolution), at]);
      notices.add(toNotice(u.rows[0]!));
      return notices.list();
    });
  }

  // ------------------------------------------------------------ reads

  async devices(): Promise<DeviceView[]> {
    const r = await this.#db.query<{
      device_id: string;
      store_id: string;
      last_applied_seq: number;
      last_seen_at: Date | null;
      online: boolean | null;
      catalog_version: number;
      open_conflicts: number;
    }>(
      `SELECT d.device_id, d.store_id, d.last_applied_seq, d.last_seen_at, d.online, d.catalog_version,
         (SELECT count(*) FROM conflicts c WHERE c.device_id = d.device_id AND c.status <> 'resolved') AS open_conflicts
       FROM devices d ORDER BY d.device_id`,
    );
    return r.rows.map((d) => ({
      deviceId: d.device_id,
      storeId: d.store_id,
      lastAppliedSeq: d.last_applied_seq,
      lastSeenAt: iso(d.last_seen_at),
      online: d.online,
      openConflicts: Number(d.open_conflicts),
      catalogVersion: d.catalog_version,
    }));
  }

  async events(deviceId: string, after = 0, limit = 100): Promise<StoredEvent[]> {
    const r = await this.#db.query<Record<string, unknown>>('SELECT * FROM events WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [deviceId, after, limit]);
    return r.rows.map((row) => ({ ...rowToEvent(row), receivedAt: iso(row.received_at as Date)!, disposition: row.disposition as StoredEvent['disposition'] }));
  }

  async inventory(storeId?: string): Promise<InventoryView[]> {
    const r = await this.#db.query<{ store_id: string; sku: string; delta: number; track_stock: boolean | null; stock: number | null }>(
      `SELECT i.store_id, i.sku, i.delta, c.track_stock, c.stock FROM inventory i LEFT JOIN catalog_items c ON c.sku = i.sku
       WHERE ($1::text IS NULL OR i.store_id = $1) ORDER BY i.store_id, i.sku`,
      [storeId ?? null],
    );
    return r.rows.map((x) => {
      const tracked = x.track_stock === true;
      const initial = tracked ? (x.stock ?? 0) : null;
      return { storeId: x.store_id, sku: x.sku, delta: x.delta, tracked, initial, onHand: initial === null ? null : initial + x.delta };
    });
  }

  async salesSummary(storeId?: string): Promise<{ storeId: string; currency: string; sales: number; refunds: number; voids: number; net: number; tax: number }[]> {
    const r = await this.#db.query<{ store_id: string; currency: string; sales: number; refunds: number; voids: number; net: number; tax: number }>(
      `SELECT store_id, currency,
         count(*) FILTER (WHERE kind = 'sale')::bigint AS sales,
         count(*) FILTER (WHERE kind = 'refund')::bigint AS refunds,
         count(*) FILTER (WHERE kind = 'void')::bigint AS voids,
         coalesce(sum(amount), 0)::bigint AS net, coalesce(sum(tax), 0)::bigint AS tax
       FROM sales_ledger WHERE ($1::text IS NULL OR store_id = $1) GROUP BY store_id, currency ORDER BY store_id, currency`,
      [storeId ?? null],
    );
    return r.rows.map((x) => ({ storeId: x.store_id, currency: x.currency, sales: x.sales, refunds: x.refunds, voids: x.voids, net: x.net, tax: x.tax }));
  }

  // ------------------------------------------------------------ price authorizations

  async addPriceAuthorization(a: { storeId: string; sku: string; minPrice?: number | null; maxPrice?: number | null; note?: string | null }): Promise<PriceAuthorization> {
    const r = await this.#db.query<{ id: string; store_id: string; sku: string; min_price: number | null; max_price: number | null; note: string | null; created_at: Date }>(
      'INSERT INTO price_authorizations (id, store_id, sku, min_price, max_price, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *',
      [randomUUID(), a.storeId, a.sku, a.minPrice ?? null, a.maxPrice ?? null, a.note ?? null, new Date(this.#now())],
    );
    const x = r.rows[0]!;
    return { id: x.id, storeId: x.store_id, sku: x.sku, minPrice: x.min_price, maxPrice: x.max_price, note: x.note, createdAt: iso(x.created_at)! };
  }

  async priceAuthorizations(): Promise<PriceAuthorization[]> {
    const r = await this.#db.query<{ id: string; store_id: string; sku: string; min_price: number | null; max_price: number | null; note: string | null; created_at: Date }>(
      'SELECT * FROM price_authorizations ORDER BY created_at, id',
    );
    return r.rows.map((x) => ({ id: x.id, storeId: x.store_id, sku: x.sku, minPrice: x.min_price, maxPrice: x.max_price, note: x.note, createdAt: iso(x.created_at)! }));
  }

  // ------------------------------------------------------------ fleet

  /**
   * A birth or death (contract/sync.ts FleetStatus). A birth always applies
   * (a box whose session counter restarted — a restored state dir, a
   * replacement box — must still come online) and sets bd_seq; a death applies
   * only to the recorded session or a newer one, so a late will of an older
   * session never marks a newer session offline. `applied` says whether it did.
   */
  async recordFleetStatus(deviceId: string, storeId: string | undefined, online: boolean, at: Date, bdSeq?: number): Promise<{ known: boolean; catalogVersion: number; applied: boolean }> {
    // One statement, so concurrent control messages for one box cannot interleave.
    const staleDeath = '(NOT $3 AND $5::bigint IS NOT NULL AND devices.bd_seq IS NOT NULL AND $5::bigint < devices.bd_seq)';
    const r = await this.#db.query<{ catalog_version: number; applied: boolean }>(
      `INSERT INTO devices (device_id, store_id, online, last_seen_at, bd_seq) VALUES ($1, coalesce($2, 'unknown'), $3, $4, $5)
       ON CONFLICT (device_id) DO UPDATE SET
         online = CASE WHEN ${staleDeath} THEN devices.online ELSE $3 END,
         bd_seq = CASE WHEN $5::bigint IS NULL OR ${staleDeath} THEN devices.bd_seq WHEN $3 THEN $5::bigint ELSE greatest(coalesce(devices.bd_seq, 0), $5::bigint) END,
         last_seen_at = greatest(devices.last_seen_at, $4),
         store_id = coalesce($2, devices.store_id)
       RETURNING catalog_version, ($3 OR $5::bigint IS NULL OR bd_seq IS NULL OR bd_seq <= $5::bigint) AS applied`,
      [deviceId, storeId ?? null, online, at, bdSeq ?? null],
    );
    return { known: true, catalogVersion: r.rows[0]!.catalog_version, applied: r.rows[0]!.applied };
  }

  /**
   * Keeps a box's latest health document. The broker delivers one device's messages in order, so
   * the last one received is the newest; the box's own clock (its `at`) is not trusted for that.
   */
  async recordHealth(deviceId: string, doc: { at: string }): Promise<void> {
    await this.#db.query(
      `INSERT INTO device_health (device_id, received_at, doc) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (device_id) DO UPDATE SET received_at = $2, doc = $3::jsonb`,
      [deviceId, new Date(this.#now()), JSON.stringify(doc)],
    );
  }

  async healthByDevice(): Promise<Map<string, { receivedAt: string; doc: unknown }>> {
    const r = await this.#db.query<{ device_id: string; received_at: Date; doc: unknown }>('SELECT device_id, received_at, doc FROM device_health');
    return new Map(r.rows.map((x) => [x.device_id, { receivedAt: iso(x.received_at)!, doc: x.doc }]));
  }

  async recordLoss(deviceId: string, report: unknown): Promise<void> {
    await this.#db.query('INSERT INTO loss_reports (device_id, received_at, report) VALUES ($1, $2, $3::jsonb)', [deviceId, new Date(this.#now()), JSON.stringify(report)]);
  }

  async lossReports(deviceId?: string): Promise<{ deviceId: string; receivedAt: string; report: unknown }[]> {
    const r = await this.#db.query<{ device_id: string; received_at: Date; report: unknown }>('SELECT * FROM loss_reports WHERE ($1::text IS NULL OR device_id = $1) ORDER BY received_at', [
      deviceId ?? null,
    ]);
    return r.rows.map((x) => ({ deviceId: x.device_id, receivedAt: iso(x.received_at)!, report: x.report }));
  }
}

function rowToEvent(row: Record<string, unknown>): JournalEvent & { receivedAt?: string } {
  return {
    id: row.id as string,
    deviceId: row.device_id as string,
    storeId: row.store_id as string,
    seq: row.seq as number,
    hlc: row.hlc as string,
    type: row.type as string,
    payload: row.payload,
    idempotencyKey: row.idempotency_key as string,
    recordedAt: row.recorded_at as string,
  };
}
