import { randomUUID } from 'node:crypto';
import type { ConflictNotice, ConflictResolution } from '../../../contract/sync.ts';
import type { Logger } from '../../log.ts';
import type { Queryable } from '../db.ts';
import { cmp, toNotice, type ConflictRow, type MoveRow, type NoticeSet, type SkuState } from '../rows.ts';

// The oversell rule (cloud/ledger/ledger.ts header): stock moves of a
// (store, sku) in HLC order; a tracked sale line whose running balance falls
// below zero gets one oversell conflict and a backorder compensation; a move
// ordered earlier that restores the stock resolves it again.

export async function applyStockMoves(tx: Queryable, log: Logger, storeId: string, moves: MoveRow[], at: Date, notices: NoticeSet): Promise<void> {
  const skus = [...new Set(moves.map((m) => m.sku))].sort();
  await tx.query('INSERT INTO inventory (store_id, sku) SELECT $1, s FROM unnest($2::text[]) AS s ON CONFLICT (store_id, sku) DO NOTHING', [storeId, skus]);
  // Lock in sku order so concurrent batches of one store cannot deadlock.
  const inv = await tx.query<{ sku: string; delta: number; max_ord: string; track_stock: boolean | null; stock: number | null }>(
    `SELECT i.sku, i.delta, i.max_ord, c.track_stock, c.stock FROM inventory i LEFT JOIN catalog_items c ON c.sku = i.sku
     WHERE i.store_id = $1 AND i.sku = ANY($2) ORDER BY i.sku FOR UPDATE OF i`,
    [storeId, skus],
  );
  const state = new Map<string, SkuState>();
  for (const r of inv.rows) state.set(r.sku, { tracked: r.track_stock ?? false, initial: r.stock ?? 0, delta: r.delta, maxOrd: r.max_ord, touched: false });

  // Per sku, the batch's moves in their total order. When the first of
  // them is above the highest order folded in (the common case), the
  // running balance is the projection and nothing stored changes. When it
  // is below, the stored moves after it are re-walked ONCE for the batch
  // (not once per move): the balance just before the batch's first move is
  // the projection minus the stored moves after it, then stored and batch
  // moves are merged by order. Shortfalls depend only on the set of moves.
  const bySku = new Map<string, MoveRow[]>();
  for (const m of moves) {
    const list = bySku.get(m.sku);
    if (list) list.push(m);
    else bySku.set(m.sku, [m]);
  }
  const flagged: MoveRow[] = [];
  const changed: MoveRow[] = [];
  const cleared: MoveRow[] = [];
  const shortOf = (tracked: boolean, m: { kind: string; delta: number }, balance: number) => (tracked && m.kind === 'sale' ? Math.min(-m.delta, Math.max(0, -balance)) : 0);
  for (const sku of skus) {
    const ms = bySku.get(sku)!.sort((a, b) => cmp(a.ord, b.ord));
    const s = state.get(sku)!;
    s.touched = true;
    const first = ms[0]!;
    const last = ms[ms.length - 1]!;
    if (cmp(first.ord, s.maxOrd) > 0) {
      let balance = s.initial + s.delta;
      for (const m of ms) {
        balance += m.delta;
        m.shortfall = shortOf(s.tracked, m, balance);
        if (m.shortfall > 0) flagged.push(m);
        s.delta += m.delta;
      }
      s.maxOrd = last.ord;
      continue;
    }
    // Out of order. An untracked item has no shortfalls: only stored lines
    // still marked short (the item was tracked once) need clearing.
    const later = await tx.query<MoveRow>(
      `SELECT event_id, line, store_id, sku, hlc, device_id, seq, kind, delta, shortfall, ord FROM stock_moves
       WHERE store_id = $1 AND sku = $2 AND ord > $3 ${s.tracked ? '' : 'AND shortfall <> 0 '}ORDER BY ord`,
      [storeId, sku, first.ord],
    );
    if (!s.tracked) {
      for (const l of later.rows) {
        l.shortfall = 0;
        changed.push(l);
        cleared.push(l);
      }
      for (const m of ms) {
        m.shortfall = 0;
        s.delta += m.delta;
      }
    } else {
      let balance = s.initial + s.delta;
      for (const l of later.rows) balance -= l.delta;
      let i = 0;
      let j = 0;
      while (i < ms.length || j < later.rows.length) {
        const takeBatch = j >= later.rows.length || (i < ms.length && cmp(ms[i]!.ord, later.rows[j]!.ord) < 0);
        if (takeBatch) {
          const m = ms[i++]!;
          balance += m.delta;
          m.shortfall = shortOf(true, m, balance);
          if (m.shortfall > 0) flagged.push(m);
          s.delta += m.delta;
        } else {
          const l = later.rows[j++]!;
          balance += l.delta;
          const short = shortOf(true, l, balance);
          if (short === l.shortfall) continue;
          l.shortfall = short;
          changed.push(l);
          (short > 0 ? flagged : cleared).push(l);
        }
      }
    }
    if (cmp(last.ord, s.maxOrd) > 0) s.maxOrd = last.ord;
  }

  await tx.query(
    `INSERT INTO stock_moves (event_id, line, store_id, sku, hlc, device_id, seq, kind, delta, shortfall, ord)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(event_id text, line integer, store_id text, sku text, hlc text, device_id text, seq bigint, kind text, delta bigint, shortfall bigint, ord text)`,
    [JSON.stringify(moves)],
  );
  if (changed.length > 0) {
    await tx.query(
      `UPDATE stock_moves m SET shortfall = x.shortfall
       FROM jsonb_to_recordset($1::jsonb) AS x(event_id text, line integer, shortfall bigint)
       WHERE m.event_id = x.event_id AND m.line = x.line`,
      [JSON.stringify(changed.map((l) => ({ event_id: l.event_id, line: l.line, shortfall: l.shortfall })))],
    );
  }
  for (const n of await flagOversell(tx, log, flagged, at)) notices.add(n);
  for (const l of cleared) {
    const n = await autoResolveOversell(tx, l, at);
    if (n) notices.add(n);
  }
  const touched = [...state.entries()].filter(([, s]) => s.touched).map(([sku, s]) => ({ sku, delta: s.delta, max_ord: s.maxOrd }));
  await tx.query(
    `UPDATE inventory i SET delta = x.delta, max_ord = x.max_ord
     FROM jsonb_to_recordset($2::jsonb) AS x(sku text, delta bigint, max_ord text)
     WHERE i.store_id = $1 AND i.sku = x.sku`,
    [storeId, JSON.stringify(touched)],
  );
}

/** Raises (or re-opens) the oversell conflicts of sale lines, each with a backorder compensation, in bulk. */
export async function flagOversell(tx: Queryable, log: Logger, moves: MoveRow[], at: Date): Promise<ConflictNotice[]> {
  if (moves.length === 0) return [];
  const rows = moves.map((m) => {
    const qty = -m.delta;
    const hqEventId = randomUUID();
    return {
      id: randomUUID(),
      dedupe_key: `oversell:${m.event_id}:${m.line}`,
      device_id: m.device_id,
      store_id: m.store_id,
      seq: m.seq,
      event_id: m.event_id,
      detail: `sale seq ${m.seq} line ${m.line} sold ${qty} of tracked ${m.sku} with ${qty - m.shortfall} left in store ${m.store_id} (by HLC order); ${m.shortfall} backordered`,
      sku: m.sku,
      compensation: { type: 'backorder', sku: m.sku, qty: m.shortfall, hqEventId },
      hq_event: { id: hqEventId, payload: { saleId: m.event_id, line: m.line, sku: m.sku, qty: m.shortfall, deviceId: m.device_id, seq: m.seq } },
    };
  });
  const r = await tx.query<ConflictRow & { dedupe_key: string }>(
    `INSERT INTO conflicts (id, dedupe_key, device_id, store_id, seq, event_id, kind, status, detail, sku, compensation, created_at, updated_at)
     SELECT x.id, x.dedupe_key, x.device_id, x.store_id, x.seq, x.event_id, 'oversell', 'open', x.detail, x.sku, x.compensation, $2, $2
     FROM jsonb_to_recordset($1::jsonb) AS x(id text, dedupe_key text, device_id text, store_id text, seq bigint, event_id text, detail text, sku text, compensation jsonb)
     ON CONFLICT (dedupe_key) DO UPDATE SET status = 'open', compensation = EXCLUDED.compensation, resolution = NULL, updated_at = EXCLUDED.updated_at,
       detail = EXCLUDED.detail || CASE WHEN conflicts.resolution IS NULL THEN '' ELSE
         ' (reopened: the shortfall changed; it was resolved ' || (conflicts.resolution->>'decision') || ' by ' || (conflicts.resolution->>'by') || ' at ' || (conflicts.resolution->>'at') || ')' END
     RETURNING *`,
    [JSON.stringify(rows), at],
  );
  const idByKey = new Map(r.rows.map((c) => [c.dedupe_key, c.id]));
  await tx.query(
    `INSERT INTO hq_events (id, conflict_id, type, store_id, payload, created_at)
     SELECT x.id, x.conflict_id, 'backorder', x.store_id, x.payload, $2 FROM jsonb_to_recordset($1::jsonb) AS x(id text, conflict_id text, store_id text, payload jsonb)`,
    [JSON.stringify(rows.map((x) => ({ id: x.hq_event.id, conflict_id: idByKey.get(x.dedupe_key), store_id: x.store_id, payload: x.hq_event.payload }))), at],
  );
  log.info({ count: r.rows.length, first: { deviceId: moves[0]!.device_id, seq: moves[0]!.seq, sku: moves[0]!.sku } }, 'oversell flagged');
  return r.rows.map(toNotice);
}

/** An earlier-ordered move restored the stock: the line no longer falls short. */
export async function autoResolveOversell(tx: Queryable, m: MoveRow, at: Date): Promise<ConflictNotice | undefined> {
  const key = `oversell:${m.event_id}:${m.line}`;
  const existing = await tx.query<ConflictRow>("SELECT * FROM conflicts WHERE dedupe_key = $1 AND status <> 'resolved' FOR UPDATE", [key]);
  const c = existing.rows[0];
  if (!c) return undefined;
  const resolution: ConflictResolution = { decision: 'accept', by: 'hq', at: at.toISOString(), note: 'stock restored by an earlier event (HLC order); backorder cancelled' };
  await tx.query('INSERT INTO hq_events (id, conflict_id, type, store_id, payload, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)', [
    randomUUID(),
    c.id,
    'backorder.cancelled',
    c.store_id,
    JSON.stringify({ saleId: m.event_id, line: m.line, sku: m.sku }),
    at,
  ]);
  const r = await tx.query<ConflictRow>("UPDATE conflicts SET status = 'resolved', resolution = $2::jsonb, updated_at = $3 WHERE id = $1 RETURNING *", [c.id, JSON.stringify(resolution), at]);
  return toNotice(r.rows[0]!);
}
