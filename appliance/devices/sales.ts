// Where the print queue gets a sale to render. Two sources, on purpose:
// 1. the `store/{s}/pos/sale` events this process hears (a bounded cache):
//    auto-print needs no round trip and works while HTTP is busy;
// 2. core's HTTP API `GET /api/v1/sales/{id}` with a till token from the
//    secrets file: for reprints of older sales and for queued jobs that
//    survived a restart of the devices process (the cache is empty then).
import type { ReceiptSale } from '../../drivers/printer/receipt.ts';
import type { Logger } from '../log.ts';

export interface SaleSourceContext {
  /** Base URL of core's HTTP API, asked on every fetch (core may restart on another port). */
  baseUrl: () => string | undefined;
  token?: string;
  log: Logger;
  cacheSize?: number;
  fetch?: typeof fetch;
}

export class SaleSource {
  readonly #ctx: SaleSourceContext;
  readonly #cache = new Map<string, ReceiptSale>();

  constructor(ctx: SaleSourceContext) {
    this.#ctx = ctx;
  }

  /** Remember a sale from its journal event (`{ id, recordedAt, payload }`). */
  remember(event: { id: string; recordedAt?: string; payload: unknown }): ReceiptSale {
    const sale = { ...(event.payload as object), id: event.id, ...(event.recordedAt ? { recordedAt: event.recordedAt } : {}) } as ReceiptSale;
    this.#cache.set(event.id, sale);
    if (this.#cache.size > (this.#ctx.cacheSize ?? 500)) this.#cache.delete(this.#cache.keys().next().value!);
    return sale;
  }

  /** undefined = core says there is no such sale (permanent); throws when core cannot be asked (retry). */
  async get(saleId: string): Promise<ReceiptSale | undefined> {
    const hit = this.#cache.get(saleId);
    if (hit) return hit;
    const base = this.#ctx.baseUrl();
    if (!base) throw new Error('core is not running (no runtime.json)');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#ctx.token) headers.authorization = `Bearer ${this.#ctx.token}`;
    const res = await (this.#ctx.fetch ?? fetch)(`${base}/api/v1/sales/${encodeURIComponent(saleId)}`, { headers, signal: AbortSignal.timeout(10_000) });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET /api/v1/sales/${saleId}: HTTP ${res.status}`);
    const view = (await res.json()) as Record<string, unknown>;
    // SaleView = journal meta + sale payload + state; the receipt needs the payload, id and time.
    const { seq: _s, hlc: _h, type: _t, idempotencyKey: _k, state: _st, ...rest } = view;
    const sale = rest as unknown as ReceiptSale;
    this.#cache.set(saleId, sale);
    return sale;
  }
}
