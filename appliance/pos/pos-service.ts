import { stockMoves, type SoldLine } from '../../contract/stock.ts';
import { IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN, clientIdempotencyKey, scopedIdempotencyKey } from '../../contract/ids.ts';
import { randomUUID } from 'node:crypto';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import {
  CartCheckoutRequest,
  CartLineRequest,
  CartScanRequest,
  type CartLine,
  DrawerOpenRequest,
  InventoryAdjustmentRequest,
  LIMITS,
  PosEventType,
  PriceOverrideRequest,
  RefundRequest,
  SaleRequest,
  VoidRequest,
  type Actor,
  type CartView,
  type CatalogItemView,
  type EventMeta,
  type PosPayloadMap,
  type RefundPayload,
  type SaleLineRequest,
  type SalePayload,
  type SaleView,
} from '../../contract/pos.ts';
import { requestHash } from '../journal/hash.ts';
import type { AppendResult, Journal, JournalEvent } from '../journal/types.ts';
import type { Logger } from '../log.ts';
import { Catalog, CatalogState } from './catalog.ts';
import { KeyedLock } from './keyed-lock.ts';
import { sum } from './money.ts';
import { quote, settle, settleRefund } from './pricing.ts';
import { taxBreakdown } from './tax.ts';
import { validationError, validator } from './validate.ts';
import { lineFromCode } from './scan.ts';
import type { WeightSource } from './scale-readings.ts';
import type { VariableMeasureLayout } from '../../contract/devices/scanner.ts';

// The POS service: validates a request completely, decides against the
// projections, appends exactly one journal event, then applies it to the
// projections. It is the only writer of POS events.
//
// Concurrency: decide + append + apply run under a per-key lock where a
// decision depends on state another request could change at the same time:
//   refund, void        → lock `sale:{saleId}` (no two refunds of one sale both pass)
//   price override      → lock `price:{sku}`   (previousPrice is exact)
//   cart checkout       → lock `cart:{cartId}` (a cart becomes one sale)
// Sales, inventory deltas and drawer events take no lock: they do not depend
// on contested state (stock may go negative; selling is never blocked by a
// count), so concurrent sales reach the journal together and share an fsync.
//
// Idempotency: each operation first looks its key up in the journal. A known
// key is answered by the journal (same request hash → the original event,
// `replayed: true`; different hash, or another operation → IdempotencyConflict)
// before any business rule runs, so a retried refund is not refused as an
// over-refund of itself. requestHash = sha256 of the canonical request body.

export interface PosServiceContext {
  journal: Journal;
  /** Catalog to sell from; defaults to an empty catalog in `currency`. */
  catalog?: Catalog | undefined;
  log: Logger;
  storeId: string;
  /** Store currency; must equal the catalog's when both are given. */
  currency?: string;
  /** Idle carts are dropped after this long (default 4 h). */
  cartTtlMs?: number;
  /** At most this many open carts (default 500). */
  maxCarts?: number;
  now?: () => number;
  /**
   * Sold lines kept in memory for the most recent sales (default 10,000, ~280 bytes
   * each); an older sale's lines are read from the journal when a refund, a void or
   * the rebuild at start needs them.
   */
  recentSales?: number;
  /** Variable-measure EAN-13 layouts (config devices.variableMeasure); default: the catalog's own. */
  variableMeasure?: readonly VariableMeasureLayout[];
  /** Latest scale readings (core feeds them from .../weight); absent: `{ sku, scale }` lines are refused. */
  weights?: WeightSource;
}

export interface PosResult<T> {
  value: T;
  /** True when the idempotency key was seen before and the original answer is returned. */
  replayed: boolean;
}

/** The journal metadata and payload of one committed event, as the API answers it. */
export type EventView<P> = EventMeta & P;

const DEFAULT_ACTOR: Actor = { name: 'local', role: 'till' };

/** Refund/void state of one sale: kept only for the (few) sales that have a refund or a void. */
interface SaleState {
  voidId?: string;
  refundIds: string[];
  /** Units refunded so far, per sale line index. */
  refundedQty: number[];
  refundedTotal: number;
}

interface Cart {
  id: string;
  createdAt: string;
  touchedAt: number;
  lines: CartLine[];
}

const checkSale = validator(SaleRequest, 'sale request');
const checkRefund = validator(RefundRequest, 'refund request');
const checkVoid = validator(VoidRequest, 'void request');
const checkAdjustment = validator(InventoryAdjustmentRequest, 'inventory adjustment');
const checkOverride = validator(PriceOverrideRequest, 'price override');
const checkDrawer = validator(DrawerOpenRequest, 'drawer-open request');
const checkCartLine = validator(CartLineRequest, 'cart line');
const checkCheckout = validator(CartCheckoutRequest, 'checkout request');
const checkScan = validator(CartScanRequest, 'scan');

export function eventView<P>(event: JournalEvent<P>): EventView<P> {
  return {
    id: event.id,
    seq: event.seq,
    hlc: event.hlc,
    type: event.type,
    recordedAt: event.recordedAt,
    // The caller's own key (the journal keeps it scoped to the caller).
    idempotencyKey: clientIdempotencyKey(event.idempotencyKey),
    ...event.payload,
  };
}

export class PosService {
  readonly storeId: string;
  readonly currency: string;
  readonly #journal: Journal;
  readonly #log: Logger;
  #state: CatalogState;
  // Memory does not grow with the sales (issue 14: a box sells for years, and
  // 280 bytes a sale were 280 MB at a million). The journal is the record of
  // every sale: whether a sale exists, its lines and its event are read from
  // it by id (one index lookup and one record read). In memory stay only the
  // sold lines (sku, qty, grams: what stock moves need) of the most recent
  // sales, refreshed when a refund or void reads an older one, so that folding
  // a refund or void into stock, which runs synchronously at commit, finds its
  // sale's lines; the rebuild at start reads those of older sales page by page.
  // #saleStates holds the refund/void state of sales that have one: it grows
  // with refunds and voids, not with sales.
  readonly #recentLines = new Map<string, readonly SoldLine[]>();
  /**
   * The window as a ring: which sale each slot was last given to (the oldest slot is
   * reused), and the slot each remembered sale owns now. Evicting through a Map's first key instead cost start a
   * third more time (300,000 sales: 7-9 s against 5-6), the deleted entries at the
   * head of V8's hash table being walked again by every keys().next().
   */
  readonly #ring: string[] = [];
  readonly #window: number;
  readonly #slotOf = new Map<string, number>();
  #ringNext = 0;
  readonly #saleStates = new Map<string, SaleState>();
  /** One string per sku, shared by all sold lines (a sku repeats across thousands of sales). */
  readonly #skus = new Map<string, string>();
  readonly #carts = new Map<string, Cart>();
  readonly #lock = new KeyedLock();
  readonly #cartTtlMs: number;
  readonly #maxCarts: number;
  readonly #now: () => number;
  readonly #variableMeasure: readonly VariableMeasureLayout[] | undefined;
  readonly #weights: WeightSource | undefined;
  #started = false;
  /** Highest journal seq folded into the projections (each event exactly once). */
  #appliedSeq = 0;
  #unsubscribe: (() => void) | undefined;

  constructor(ctx: PosServiceContext) {
    const currency = ctx.currency ?? ctx.catalog?.currency ?? 'EUR';
    const catalog = ctx.catalog ?? new Catalog({ currency, taxClasses: [{ name: 'standard', rateBp: 0 }], items: [] });
    if (catalog.currency !== currency) {
      throw new TypeError(`store currency ${currency} differs from the catalog's ${catalog.currency}`);
    }
    this.storeId = ctx.storeId;
    this.currency = currency;
    this.#journal = ctx.journal;
    this.#log = ctx.log;
    this.#state = new CatalogState(catalog);
    this.#cartTtlMs = ctx.cartTtlMs ?? 4 * 3600_000;
    this.#window = Math.max(1, ctx.recentSales ?? 10_000);
    this.#maxCarts = ctx.maxCarts ?? 500;
    this.#now = ctx.now ?? Date.now;
    this.#variableMeasure = ctx.variableMeasure?.length ? ctx.variableMeasure : undefined;
    this.#weights = ctx.weights;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Rebuilds the projections (sales, refunds, voids, stock, prices) from the journal, seq 1 onwards. */
  async start(): Promise<void> {
    this.#recentLines.clear();
    this.#slotOf.clear();
    this.#ring.length = 0;
    this.#ringNext = 0;
    this.#saleStates.clear();
    this.#state.reset();
    this.#appliedSeq = 0;
    let after = 0;
    let count = 0;
    let sales = 0;
    for (;;) {
      const page = await this.#journal.read({ after, limit: 1000 });
      if (page.length === 0) break;
      for (const event of page) {
        // A refund or void of a sale no longer among the recent ones: its lines from the journal first.
        if (event.type === PosEventType.Refund || event.type === PosEventType.Void) {
          const saleId = (event.payload as { saleId: string }).saleId;
          const sale = this.#recentLines.has(saleId) ? undefined : await this.#journal.getById(saleId);
          if (sale?.type === PosEventType.Sale && sale.seq < event.seq) this.#remember(sale as JournalEvent<SalePayload>);
        }
        this.#apply(event);
        if (event.type === PosEventType.Sale) sales++;
      }
      count += page.length;
      after = page[page.length - 1]!.seq;
    }
    // Every later commit is folded in as it happens (subscribed right after the
    // last page, with no await between), also one the journal adopts after
    // recovering from a failed write (a batch refused to its till that landed).
    this.#unsubscribe = this.#journal.onCommit((event) => this.#apply(event));
    this.#started = true;
    this.#log.info({ events: count, sales, lastSeq: after }, 'pos projections rebuilt');
  }

  async stop(): Promise<void> {
    this.#started = false;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#carts.clear();
  }

  // ------------------------------------------------------------ reads

  catalog(): CatalogItemView[] {
    return this.#state.views();
  }

  catalogItem(skuOrBarcode: string): CatalogItemView | undefined {
    const c = this.#state.catalog;
    const item = c.get(skuOrBarcode) ?? c.byBarcode(skuOrBarcode);
    return item && this.#state.view(item);
  }

  /**
   * Swaps in a new catalog (HQ catalog sync). Stock keeps what the journal
   * did to it (new base + the same deltas); local price overrides end, as HQ
   * price wins. Throws, keeping the old catalog, when the currency differs.
   */
  replaceCatalog(catalog: Catalog): void {
    if (catalog.currency !== this.currency) {
      throw new TypeError(`catalog currency ${catalog.currency} differs from the store's ${this.currency}`);
    }
    const old = this.#state;
    const next = new CatalogState(catalog);
    for (const item of catalog.items()) {
      const before = old.catalog.get(item.sku);
      if (!item.trackStock || !before?.trackStock) continue;
      next.adjust(item.sku, (old.stock(item.sku) ?? 0) - (before.stock ?? 0));
    }
    this.#state = next;
  }

  /** The sale as the API shows it (the journal's event plus its refund/void state); undefined for an unknown sale. */
  async getSale(id: string): Promise<SaleView | undefined> {
    if (this.#recentLines.has(id)) return this.#saleView(await this.#saleEvent(id));
    const event = await this.#folded(id);
    return event && this.#saleView(event);
  }

  // ------------------------------------------------------------ writes

  async sell(body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR): Promise<PosResult<SaleView>> {
    const req = checkSale(body);
    const result = await this.#write(PosEventType.Sale, idempotencyKey, actor, req, [], () => this.#decideSale(req.lines, req.tenders, actor));
    return { value: this.#saleView(result.event), replayed: result.replayed };
  }

  async refund(body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR): Promise<PosResult<EventView<RefundPayload>>> {
    const req = checkRefund(body);
    const result = await this.#write(PosEventType.Refund, idempotencyKey, actor, req, [`sale:${req.saleId}`], async () => {
      const lines = (await this.#requireSale(req.saleId)).payload.lines;
      const sale = this.#stateOf(req.saleId);
      if (sale.voidId) throw new TillboxError(ErrorCode.StateConflict, `sale ${req.saleId} is voided`, { field: 'saleId' });
      const wanted = new Map<number, number>();
      const errors = [];
      for (const [i, l] of req.lines.entries()) {
        if (l.line >= lines.length) errors.push({ path: `lines.${i}.line`, message: `sale has ${lines.length} lines` });
        else wanted.set(l.line, (wanted.get(l.line) ?? 0) + l.qty);
      }
      if (errors.length > 0) throw validationError('invalid refund lines', errors);
      for (const [index, qty] of wanted) {
        const remaining = lines[index]!.qty - (sale.refundedQty[index] ?? 0);
        if (qty > remaining) {
          throw new TillboxError(ErrorCode.StateConflict, `line ${index} (${lines[index]!.sku}): refund of ${qty} exceeds the ${remaining} still refundable`, {
            field: 'lines',
            detail: { line: index, requested: qty, refundable: remaining },
          });
        }
      }
      const refundLines = [...wanted].map(([index, qty]) => {
        const sold = lines[index]!;
        const restock = req.lines.find((l) => l.line === index)?.restock ?? true;
        // A weighed line has qty 1 and refunds whole; unit lines refund unitPrice per unit.
        const amount = sold.weightGrams !== undefined ? sold.amount : sold.unitPrice * qty;
        return { line: index, sku: sold.sku, qty, amount, taxClass: sold.taxClass, taxRateBp: sold.taxRateBp, restock };
      });
      const total = sum(refundLines.map((l) => l.amount));
      settleRefund(total, req.tenders);
      const taxes = taxBreakdown(refundLines);
      const payload: RefundPayload = {
        saleId: req.saleId,
        currency: this.currency,
        lines: refundLines,
        taxes,
        total,
        tax: sum(taxes.map((t) => t.tax)),
        tenders: req.tenders,
        reason: req.reason,
        by: actor,
      };
      return payload;
    });
    return { value: eventView(result.event), replayed: result.replayed };
  }

  /** Voids a whole sale: once, and only while no refund exists against it (refund instead). */
  async void(body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR) {
    const req = checkVoid(body);
    const result = await this.#write(PosEventType.Void, idempotencyKey, actor, req, [`sale:${req.saleId}`], async () => {
      const event = await this.#requireSale(req.saleId);
      const sale = this.#stateOf(req.saleId);
      if (sale.voidId) throw new TillboxError(ErrorCode.StateConflict, `sale ${req.saleId} is already voided`, { field: 'saleId' });
      if (sale.refundIds.length > 0) {
        throw new TillboxError(ErrorCode.StateConflict, `sale ${req.saleId} has refunds; refund the rest instead of voiding`, { field: 'saleId' });
      }
      return { saleId: req.saleId, currency: this.currency, total: event.payload.total, reason: req.reason, by: actor };
    });
    return { value: eventView(result.event), replayed: result.replayed };
  }

  async adjustInventory(body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR) {
    const req = checkAdjustment(body);
    const result = await this.#write(PosEventType.InventoryAdjusted, idempotencyKey, actor, req, [], () => {
      const item = this.#requireItem(req.sku, 'sku');
      if (!item.trackStock) throw validationError('invalid inventory adjustment', [{ path: 'sku', message: `${req.sku} does not track stock` }]);
      const payload: PosPayloadMap['inventory.adjusted'] = { sku: req.sku, delta: req.delta, reason: req.reason, by: actor };
      if (req.note !== undefined) payload.note = req.note;
      return payload;
    });
    return { value: { ...eventView(result.event), stock: this.#state.stock(req.sku) }, replayed: result.replayed };
  }

  /** Manager only. Sets the local price of one sku until HQ sends a new catalog. */
  async overridePrice(body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR) {
    if (actor.role !== 'manager') throw new TillboxError(ErrorCode.Forbidden, 'price overrides need a manager');
    const req = checkOverride(body);
    const result = await this.#write(PosEventType.PriceOverridden, idempotencyKey, actor, req, [`price:${req.sku}`], () => {
      this.#requireItem(req.sku, 'sku');
      const previousPrice = this.#state.price(req.sku)!;
      return { sku: req.sku, currency: this.currency, price: req.price, previousPrice, reason: req.reason, by: actor };
    });
    return { value: eventView(result.event), replayed: result.replayed };
  }

  /** Records that the cash drawer was opened (the driver command is core's business). */
  async openDrawer(body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR) {
    const req = checkDrawer(body);
    const result = await this.#write(PosEventType.DrawerOpened, idempotencyKey, actor, req, [], async () => {
      if (req.saleId !== undefined && !this.#recentLines.has(req.saleId) && !(await this.#folded(req.saleId))) throw this.#noSale(req.saleId);
      const payload: PosPayloadMap['drawer.opened'] = { reason: req.reason, by: actor };
      if (req.saleId !== undefined) payload.saleId = req.saleId;
      if (req.note !== undefined) payload.note = req.note;
      return payload;
    });
    return { value: eventView(result.event), replayed: result.replayed };
  }

  // ------------------------------------------------------------ carts (ephemeral, in memory)

  createCart(): CartView {
    this.#assertStarted();
    this.#sweepCarts();
    if (this.#carts.size >= this.#maxCarts) throw new TillboxError(ErrorCode.StateConflict, `too many open carts (${this.#maxCarts})`);
    const now = this.#now();
    const cart: Cart = { id: randomUUID(), createdAt: new Date(now).toISOString(), touchedAt: now, lines: [] };
    this.#carts.set(cart.id, cart);
    return this.#cartView(cart);
  }

  getCart(id: string): CartView {
    return this.#cartView(this.#requireCart(id));
  }

  /**
   * `{ sku, qty }`, `{ sku, weightGrams }`, or `{ sku, scale }`: the weight of
   * the scale's latest stable reading core heard (refused while in motion,
   * overloaded, under zero, empty or offline).
   */
  addCartLine(id: string, body: unknown): CartView {
    const cart = this.#requireCart(id);
    const req = checkCartLine(body);
    let line: CartLine = req;
    if (req.scale !== undefined) {
      if (req.weightGrams !== undefined || req.qty !== undefined) {
        throw validationError('invalid cart line', [{ path: req.qty !== undefined ? 'qty' : 'weightGrams', message: 'not with scale: the weight comes from the scale' }]);
      }
      const item = this.#requireItem(req.sku, 'sku');
      if (!item.soldByWeight) throw validationError('invalid cart line', [{ path: 'scale', message: `${req.sku} is sold by unit` }]);
      if (!this.#weights) throw new TillboxError(ErrorCode.StateConflict, 'this box hears no scale readings', { field: 'scale' });
      line = { sku: req.sku, weightGrams: this.#weights.sellableGrams(req.scale), scale: req.scale };
    }
    return this.#pushLine(cart, line);
  }

  /** The cart line a scanned or typed code makes (no cart, no journal): for kiosks and tests. */
  lineForCode(code: string): CartLine {
    return lineFromCode(code, this.#state.catalog, this.#layouts());
  }

  /** POST /carts/{id}/scan { code }: parse, look up, price (embedded price or weight), add. Nothing is journaled. */
  scanIntoCart(id: string, body: unknown): CartView {
    const cart = this.#requireCart(id);
    const { code } = checkScan(body);
    return this.#pushLine(cart, this.lineForCode(code));
  }

  #layouts(): { variableMeasure?: readonly VariableMeasureLayout[] } {
    const vm = this.#variableMeasure ?? this.#state.catalog.variableMeasure;
    return vm?.length ? { variableMeasure: vm } : {};
  }

  #pushLine(cart: Cart, line: CartLine): CartView {
    if (cart.lines.length >= LIMITS.maxLines) throw new TillboxError(ErrorCode.StateConflict, `a cart holds at most ${LIMITS.maxLines} lines`);
    quote([line], this.#state); // unknown sku / qty-vs-weight errors now, not at checkout
    cart.lines.push(line);
    return this.#cartView(cart);
  }

  removeCartLine(id: string, index: number): CartView {
    const cart = this.#requireCart(id);
    if (!Number.isInteger(index) || index < 0 || index >= cart.lines.length) {
      throw new TillboxError(ErrorCode.NotFound, `cart ${id} has no line ${index}`);
    }
    cart.lines.splice(index, 1);
    return this.#cartView(cart);
  }

  deleteCart(id: string): void {
    if (!this.#carts.delete(id)) throw new TillboxError(ErrorCode.NotFound, `no cart ${id}`);
  }

  /** Turns a cart into a sale (the only cart operation that writes the journal); the cart is then gone. */
  async checkout(id: string, body: unknown, idempotencyKey: string, actor: Actor = DEFAULT_ACTOR): Promise<PosResult<SaleView>> {
    const req = checkCheckout(body);
    const result = await this.#write(PosEventType.Sale, idempotencyKey, actor, { cartId: id, ...req }, [`cart:${id}`], () => {
      const cart = this.#requireCart(id);
      if (cart.lines.length === 0) throw new TillboxError(ErrorCode.StateConflict, `cart ${id} is empty`);
      return { ...this.#decideSale(cart.lines, req.tenders, actor), cartId: id };
    });
    if (!result.replayed) this.#carts.delete(id);
    return { value: this.#saleView(result.event), replayed: result.replayed };
  }

  // ------------------------------------------------------------ internals

  #decideSale(lines: readonly (SaleLineRequest | CartLine)[], tenders: SalePayload['tenders'], actor: Actor): SalePayload {
    const q = quote(lines, this.#state);
    const { paid, change } = settle(q.total, tenders);
    return { ...q, tenders, paid, change, by: actor };
  }

  async #write<T extends keyof PosPayloadMap>(
    type: T,
    clientKey: string,
    actor: Actor,
    body: unknown,
    lockKeys: string[],
    decide: () => PosPayloadMap[T] | Promise<PosPayloadMap[T]>,
  ): Promise<AppendResult<PosPayloadMap[T]>> {
    this.#assertStarted();
    if (typeof clientKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(clientKey)) {
      throw validationError('invalid idempotency key', [{ path: 'headers.idempotency-key', message: `must be 1-${IDEMPOTENCY_KEY_MAX} printable ASCII characters` }]);
    }
    // Scoped to the caller: till-2 reusing till-1's key is a new sale, not till-1's replayed.
    const idempotencyKey = scopedIdempotencyKey(actor.name, clientKey);
    const hash = requestHash(body);
    return this.#lock.run(lockKeys, async () => {
      const existing = await this.#journal.getByIdempotencyKey(idempotencyKey);
      if (existing) {
        if (existing.type !== type) {
          throw new TillboxError(ErrorCode.IdempotencyConflict, `idempotency key ${clientKey} was used for a ${existing.type}`);
        }
        // The journal compares the hash: the original event, or IdempotencyConflict.
        const again = await this.#journal.append({ type, payload: existing.payload, idempotencyKey, requestHash: hash });
        return again as AppendResult<PosPayloadMap[T]>;
      }
      const payload = await decide();
      const result = await this.#journal.append({ type, payload, idempotencyKey, requestHash: hash });
      if (result.event.type !== type) {
        throw new TillboxError(ErrorCode.IdempotencyConflict, `idempotency key ${clientKey} was used for a ${result.event.type}`);
      }
      if (!result.replayed) this.#apply(result.event);
      this.#log.debug({ type, seq: result.event.seq, id: result.event.id, replayed: result.replayed }, 'pos event');
      return result;
    });
  }

  /** Folds one committed event into the projections. Unknown types are ignored. */
  #apply(event: JournalEvent): void {
    if (event.seq <= this.#appliedSeq) return;
    this.#appliedSeq = event.seq;
    // Stock follows the one rule HQ uses too (contract/stock.ts).
    for (const m of stockMoves(event.type, event.payload, (saleId) => this.#recentLines.get(saleId))) this.#state.adjust(m.sku, m.delta);
    switch (event.type) {
      case PosEventType.Sale: {
        this.#remember(event as JournalEvent<SalePayload>);
        break;
      }
      case PosEventType.Refund: {
        const p = event.payload as RefundPayload;
        if (!this.#recentLines.has(p.saleId)) {
          this.#log.warn({ seq: event.seq, saleId: p.saleId }, 'refund of a sale not in the journal');
          break;
        }
        const sale = this.#touchState(p.saleId);
        sale.refundIds.push(event.id);
        sale.refundedTotal += p.total;
        for (const l of p.lines) sale.refundedQty[l.line] = (sale.refundedQty[l.line] ?? 0) + l.qty;
        break;
      }
      case PosEventType.Void: {
        const p = event.payload as PosPayloadMap['void'];
        if (!this.#recentLines.has(p.saleId)) {
          this.#log.warn({ seq: event.seq, saleId: p.saleId }, 'void of a sale not in the journal');
          break;
        }
        this.#touchState(p.saleId).voidId = event.id;
        break;
      }
      case PosEventType.PriceOverridden: {
        const p = event.payload as PosPayloadMap['price.overridden'];
        this.#state.setPrice(p.sku, p.price);
        break;
      }
      default:
        break;
    }
  }

  /** Keeps a sale's sold lines among the recent ones (moved to the newest end); the oldest goes beyond the bound. */
  #remember(sale: JournalEvent<SalePayload>): void {
    // Slots fill in order, so the ring grows only as far as it is used.
    const slot = this.#ringNext % this.#window;
    const old = this.#ring[slot];
    // The slot's previous sale leaves, unless it was remembered again since (it then owns a newer slot).
    if (old !== undefined && this.#slotOf.get(old) === slot && old !== sale.id) {
      this.#recentLines.delete(old);
      this.#slotOf.delete(old);
    }
    if (!this.#recentLines.has(sale.id))
      this.#recentLines.set(
        sale.id,
        sale.payload.lines.map((l) => this.#soldLine(l)),
      );
    this.#ring[slot] = sale.id;
    this.#slotOf.set(sale.id, slot);
    this.#ringNext++;
  }

  /** A sale folded into the projections, from the journal; undefined when there is none. */
  async #folded(id: string): Promise<JournalEvent<SalePayload> | undefined> {
    const event = await this.#journal.getById(id);
    return event?.type === PosEventType.Sale && event.seq <= this.#appliedSeq ? (event as JournalEvent<SalePayload>) : undefined;
  }

  /** What stock moves need of a sold line, and nothing more (contract/stock.ts SoldLine). */
  #soldLine(l: SalePayload['lines'][number]): SoldLine {
    let sku = this.#skus.get(l.sku);
    if (sku === undefined) this.#skus.set(l.sku, (sku = l.sku));
    return l.weightGrams !== undefined ? { sku, qty: l.qty, weightGrams: l.weightGrams } : { sku, qty: l.qty };
  }

  /** The refund/void state of a known sale (a fresh one when it has none). */
  #stateOf(saleId: string): SaleState {
    return this.#saleStates.get(saleId) ?? { refundIds: [], refundedQty: (this.#recentLines.get(saleId) ?? []).map(() => 0), refundedTotal: 0 };
  }

  #touchState(saleId: string): SaleState {
    let state = this.#saleStates.get(saleId);
    if (!state) this.#saleStates.set(saleId, (state = this.#stateOf(saleId)));
    return state;
  }

  /**
   * A sale event with its current refund/void state. A replay that joined a
   * concurrent first append can resolve before that append's projection
   * update ran; it then shows the committed event with a fresh state.
   */
  #saleView(event: JournalEvent<SalePayload>): SaleView {
    const known = this.#saleStates.get(event.id);
    const p = known ?? { refundIds: [], refundedQty: [], refundedTotal: 0 };
    const state: SaleView['state'] = {
      voided: p.voidId !== undefined,
      refundIds: [...p.refundIds],
      refundedQty: event.payload.lines.map((_, i) => p.refundedQty[i] ?? 0),
      refundedTotal: p.refundedTotal,
    };
    if (p.voidId !== undefined) state.voidId = p.voidId;
    return { ...eventView(event), state };
  }

  /** The committed event of a known sale, read from the journal. */
  async #saleEvent(id: string): Promise<JournalEvent<SalePayload>> {
    const event = await this.#journal.getById(id);
    // Known to the projections but not readable: a quarantined record, never "no such sale".
    if (event?.type !== PosEventType.Sale) throw new TillboxError(ErrorCode.JournalCorrupt, `the journal event of sale ${id} is corrupt or missing`);
    return event as JournalEvent<SalePayload>;
  }

  /**
   * A sale a refund or void may refer to, read from the journal; its lines join the
   * recent ones, so that folding the refund or void in at commit finds them.
   */
  async #requireSale(id: string): Promise<JournalEvent<SalePayload>> {
    if (this.#recentLines.has(id)) {
      const event = await this.#saleEvent(id);
      this.#remember(event);
      return event;
    }
    const event = await this.#folded(id);
    if (!event) throw this.#noSale(id);
    this.#remember(event);
    return event;
  }

  #noSale(id: string): TillboxError {
    return new TillboxError(ErrorCode.NotFound, `no sale ${id}`, { field: 'saleId' });
  }

  #requireItem(sku: string, field: string) {
    const item = this.#state.catalog.get(sku);
    if (!item) {
      throw new TillboxError(ErrorCode.UnknownSku, `unknown sku ${sku}`, { field, detail: { errors: [{ path: field, message: `unknown sku ${sku}` }] } });
    }
    return item;
  }

  #requireCart(id: string): Cart {
    this.#assertStarted();
    this.#sweepCarts();
    const cart = this.#carts.get(id);
    if (!cart) throw new TillboxError(ErrorCode.NotFound, `no cart ${id}`);
    cart.touchedAt = this.#now();
    return cart;
  }

  #sweepCarts(): void {
    const cutoff = this.#now() - this.#cartTtlMs;
    for (const [id, cart] of this.#carts) if (cart.touchedAt < cutoff) this.#carts.delete(id);
  }

  #cartView(cart: Cart): CartView {
    return {
      id: cart.id,
      createdAt: cart.createdAt,
      lines: cart.lines.map((l) => ({ ...l })),
      quote: quote(cart.lines, this.#state),
    };
  }

  #assertStarted(): void {
    if (!this.#started) throw new TillboxError(ErrorCode.NotReady, 'the POS service is not started', { retryable: true });
  }
}
