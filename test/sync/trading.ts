import { call, postSale } from '../../harness/box.ts';

// Store trading against a real box over HTTP, time-compressed: the mix of a
// day (sales, refunds with restock, inventory adjustments) as fast as the box
// takes it. Deterministic for a seed.

export const TRACKED = ['MILK-1L', 'BUTTER-250', 'EGGS-10', 'BREAD-WG', 'PASTA-500', 'RICE-1K', 'COFFEE-500', 'OJ-1L'];

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export interface TradeResult {
  sales: number;
  refunds: number;
  adjustments: number;
  failures: string[];
}

interface SoldLine {
  saleId: string;
  unitPrice: number;
}

/** `n` operations from `workers` concurrent tills; idempotency keys are prefixed so runs never collide. */
export async function trade(port: number, n: number, opts: { seed?: number; workers?: number; prefix?: string; skus?: string[] } = {}): Promise<TradeResult> {
  const random = rng(opts.seed ?? 1);
  const skus = opts.skus ?? TRACKED;
  const prefix = opts.prefix ?? `t${Date.now().toString(36)}`;
  const result: TradeResult = { sales: 0, refunds: 0, adjustments: 0, failures: [] };
  const refundable: SoldLine[] = [];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const r = random();
      const key = `${prefix}-${i}`;
      if (r < 0.1 && refundable.length > 0) {
        const sold = refundable.splice(Math.floor(random() * refundable.length), 1)[0]!;
        const res = await call(
          port,
          'POST',
          '/api/v1/refunds',
          { saleId: sold.saleId, lines: [{ line: 0, qty: 1, restock: true }], tenders: [{ type: 'cash', amount: sold.unitPrice }], reason: 'customer return' },
          { 'idempotency-key': key },
        );
        if (res.status === 201 || res.status === 200) result.refunds++;
        else result.failures.push(`refund ${res.status} ${res.body}`);
      } else if (r < 0.2) {
        // Deliveries outweigh breakage, so stock stays positive (oversell is its own test).
        const received = random() < 0.8;
        const delta = received ? 20 + Math.floor(random() * 40) : -(1 + Math.floor(random() * 3));
        const res = await call(
          port,
          'POST',
          '/api/v1/inventory/adjustments',
          { sku: skus[Math.floor(random() * skus.length)], delta, reason: received ? 'received' : 'damaged' },
          { 'idempotency-key': key },
        );
        if (res.status === 201 || res.status === 200) result.adjustments++;
        else result.failures.push(`adjustment ${res.status} ${res.body}`);
      } else {
        const sku = skus[Math.floor(random() * skus.length)]!;
        const qty = 1 + Math.floor(random() * 3);
        const res = await postSale(port, key, { lines: [{ sku, qty }], tenders: [{ type: 'cash', amount: 100_000 }] });
        if (res.status === 201 || res.status === 200) {
          result.sales++;
          const body = res.json<{ id: string; lines: Array<{ unitPrice: number }> }>();
          refundable.push({ saleId: body.id, unitPrice: body.lines[0]!.unitPrice });
        } else result.failures.push(`sale ${res.status} ${res.body}`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.workers ?? 4 }, worker));
  return result;
}

export interface BoxSyncStatus {
  connected: boolean;
  pending: number;
  oldestPendingAgeMs: number;
  lastAckAt: string | null;
  conflicts: number;
  dropped: number;
  lastSeq: number;
  lastAckedSeq: number;
  [k: string]: unknown;
}

export async function syncStatus(port: number): Promise<BoxSyncStatus> {
  const r = await call(port, 'GET', '/api/v1/sync/status');
  if (r.status !== 200) throw new Error(`sync status ${r.status}: ${r.body}`);
  return r.json<BoxSyncStatus>();
}

/** Stock of every tracked item as the box sees it now. */
export async function boxStock(port: number): Promise<Map<string, number>> {
  const r = await call(port, 'GET', '/api/v1/catalog');
  const items = r.json<{ items: Array<{ sku: string; stock?: number; trackStock: boolean }> }>().items;
  return new Map(items.filter((i) => i.trackStock && i.stock !== undefined).map((i) => [i.sku, i.stock!]));
}
