import { v7 as uuidv7 } from 'uuid';
import type { JournalEvent } from '../contract/events.ts';
import type { Actor, InventoryAdjustedPayload, PriceOverriddenPayload, RefundPayload, SalePayload, VoidPayload } from '../contract/pos.ts';
import type { EventBatch } from '../contract/sync.ts';

// Test fixtures for HQ: a fake box that writes journal events shaped exactly
// like the appliance's (contract/events.ts, contract/pos.ts) with gap-free
// seqs and HLCs, and wraps them in EventBatches.

const TILL: Actor = { name: 'till-1', role: 'till' };
const MANAGER: Actor = { name: 'manager-1', role: 'manager' };

export function hlcString(wallMs: number, counter: number, deviceId: string): string {
  return `${String(wallMs).padStart(15, '0')}-${String(counter).padStart(10, '0')}-${deviceId}`;
}

export interface FakeBoxOptions {
  deviceId: string;
  storeId?: string;
  /** Wall clock for HLCs (ms); defaults to Date.now. */
  clock?: () => number;
}

export class FakeBox {
  readonly deviceId: string;
  readonly storeId: string;
  readonly events: JournalEvent[] = [];
  #clock: () => number;
  #lastWall = 0;
  #counter = 0;
  #batch = 0;

  constructor(options: FakeBoxOptions) {
    this.deviceId = options.deviceId;
    this.storeId = options.storeId ?? 'store-1';
    this.#clock = options.clock ?? Date.now;
  }

  setClock(clock: () => number): void {
    this.#clock = clock;
  }

  #hlc(): string {
    const wall = this.#clock();
    if (wall > this.#lastWall) {
      this.#lastWall = wall;
      this.#counter = 0;
    } else this.#counter++;
    return hlcString(this.#lastWall, this.#counter, this.deviceId);
  }

  append<P>(type: string, payload: P): JournalEvent<P> {
    const seq = this.events.length + 1;
    const e: JournalEvent<P> = {
      id: uuidv7(),
      deviceId: this.deviceId,
      storeId: this.storeId,
      seq,
      hlc: this.#hlc(),
      type,
      payload,
      idempotencyKey: `${this.deviceId}-k-${seq}`,
      recordedAt: new Date(this.#clock()).toISOString(),
    };
    this.events.push(e as JournalEvent);
    return e;
  }

  sale(lines: { sku: string; qty?: number; weightGrams?: number; unitPrice?: number }[], by: Actor = TILL): JournalEvent<SalePayload> {
    const saleLines = lines.map((l) => {
      const unitPrice = l.unitPrice ?? 100;
      const qty = l.weightGrams ? 1 : (l.qty ?? 1);
      const amount = l.weightGrams ? Math.round((unitPrice * l.weightGrams) / 1000) : unitPrice * qty;
      return {
        sku: l.sku,
        name: l.sku,
        qty,
        ...(l.weightGrams ? { weightGrams: l.weightGrams } : {}),
        unitPrice,
        unit: (l.weightGrams ? 'kg' : 'ea') as 'kg' | 'ea',
        amount,
        taxClass: 'reduced',
        taxRateBp: 700,
        priceOverridden: false,
      };
    });
    const total = saleLines.reduce((s, l) => s + l.amount, 0);
    const tax = Math.round((total * 700) / 10700);
    return this.append('sale', {
      currency: 'EUR',
      lines: saleLines,
      taxes: [{ taxClass: 'reduced', rateBp: 700, gross: total, net: total - tax, tax }],
      total,
      tax,
      net: total - tax,
      tenders: [{ type: 'cash', amount: total }],
      paid: total,
      change: 0,
      by,
    } satisfies SalePayload);
  }

  refund(sale: JournalEvent<SalePayload>, lines: { line: number; qty: number; restock?: boolean }[]): JournalEvent<RefundPayload> {
    const rl = lines.map((l) => {
      const sold = sale.payload.lines[l.line]!;
      return { line: l.line, sku: sold.sku, qty: l.qty, amount: sold.unitPrice * l.qty, taxClass: 'reduced', taxRateBp: 700, restock: l.restock ?? true };
    });
    const total = rl.reduce((s, l) => s + l.amount, 0);
    const tax = Math.round((total * 700) / 10700);
    return this.append('refund', {
      saleId: sale.id,
      currency: 'EUR',
      lines: rl,
      taxes: [{ taxClass: 'reduced', rateBp: 700, gross: total, net: total - tax, tax }],
      total,
      tax,
      tenders: [{ type: 'cash', amount: total }],
      reason: 'customer return',
      by: TILL,
    } satisfies RefundPayload);
  }

  void(sale: JournalEvent<SalePayload>): JournalEvent<VoidPayload> {
    return this.append('void', { saleId: sale.id, currency: 'EUR', total: sale.payload.total, reason: 'mistake', by: MANAGER } satisfies VoidPayload);
  }

  adjust(sku: string, delta: number): JournalEvent<InventoryAdjustedPayload> {
    return this.append('inventory.adjusted', { sku, delta, reason: delta > 0 ? 'received' : 'damaged', by: MANAGER } satisfies InventoryAdjustedPayload);
  }

  priceOverride(sku: string, price: number, by: Actor = MANAGER, previousPrice = 100): JournalEvent<PriceOverriddenPayload> {
    return this.append('price.overridden', { sku, currency: 'EUR', price, previousPrice, reason: 'promo', by } satisfies PriceOverriddenPayload);
  }

  drawer(): JournalEvent {
    return this.append('drawer.opened', { reason: 'no-sale', by: TILL });
  }

  /** A batch of events[from-1 .. to-1] (seqs from..to inclusive). */
  batch(from: number, to: number, lane: 'backlog' | 'live' = 'backlog'): EventBatch {
    return this.batchOf(this.events.slice(from - 1, to), lane);
  }

  batchOf(events: JournalEvent[], lane: 'backlog' | 'live' = 'backlog'): EventBatch {
    this.#batch++;
    return {
      v: 1,
      deviceId: this.deviceId,
      storeId: this.storeId,
      batchId: `${this.deviceId}-b${this.#batch}-${Math.random().toString(36).slice(2, 8)}`,
      lane,
      events: events as EventBatch['events'],
      sentAt: new Date().toISOString(),
    };
  }
}

export { TILL, MANAGER };
