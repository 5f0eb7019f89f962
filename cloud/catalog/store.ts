import type { CatalogData, CatalogItem } from '../../contract/pos.ts';
import type { CatalogChange, CatalogUpdate } from '../../contract/sync.ts';
import type { Db, Queryable } from '../ledger/db.ts';
import { LedgerError } from '../ledger/ledger.ts';

// HQ's catalog in the ledger database: metadata, items by sku, and per-device
// catalog versions. Every change is turned into one CatalogUpdate per device:
// version = device's version + 1; a delta when the device has a version, a
// full catalog on first contact (version 0) and on a resync request.

export interface CatalogStoreContext {
  db: Db;
  now?: () => number;
}

export interface AddressedUpdate {
  deviceId: string;
  update: CatalogUpdate;
}

export class CatalogStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(ctx: CatalogStoreContext) {
    this.#db = ctx.db;
    this.#now = ctx.now ?? Date.now;
  }

  /** Seeds the catalog when HQ has none yet; returns whether it did. */
  async seed(data: CatalogData): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const r = await tx.query('INSERT INTO catalog_meta (id, currency, tax_classes) VALUES (1, $1, $2::jsonb) ON CONFLICT (id) DO NOTHING RETURNING id', [
        data.currency,
        JSON.stringify(data.taxClasses),
      ]);
      if (r.rows.length === 0) return false;
      for (const item of data.items) await this.#putItem(tx, item);
      return true;
    });
  }

  async catalog(q: Queryable = this.#db): Promise<CatalogData> {
    const meta = await q.query<{ currency: string; tax_classes: CatalogData['taxClasses'] }>('SELECT currency, tax_classes FROM catalog_meta WHERE id = 1');
    const m = meta.rows[0];
    if (!m) throw new LedgerError('TB_NOT_READY', 'HQ has no catalog yet');
    const items = await q.query<{ item: CatalogItem }>('SELECT item FROM catalog_items ORDER BY sku');
    return { currency: m.currency, taxClasses: m.tax_classes, items: items.rows.map((r) => r.item) };
  }

  async item(sku: string): Promise<CatalogItem | undefined> {
    const r = await this.#db.query<{ item: CatalogItem }>('SELECT item FROM catalog_items WHERE sku = $1', [sku]);
    return r.rows[0]?.item;
  }

  async #putItem(tx: Queryable, item: CatalogItem): Promise<void> {
    await tx.query(
      `INSERT INTO catalog_items (sku, item, track_stock, stock, updated_at) VALUES ($1, $2::jsonb, $3, $4, $5)
       ON CONFLICT (sku) DO UPDATE SET item = $2::jsonb, track_stock = $3, stock = $4, updated_at = $5`,
      [item.sku, JSON.stringify(item), item.trackStock, item.stock ?? null, new Date(this.#now())],
    );
  }

  /**
   * Applies catalog changes at HQ and returns the updates to publish, one per
   * known device, versions already advanced in the same transaction.
   */
  async change(changes: CatalogChange[]): Promise<AddressedUpdate[]> {
    return this.#db.transaction(async (tx) => {
      const taxes = await tx.query<{ tax_classes: CatalogData['taxClasses'] }>('SELECT tax_classes FROM catalog_meta WHERE id = 1 FOR UPDATE');
      const taxClasses = taxes.rows[0]?.tax_classes;
      if (!taxClasses) throw new LedgerError('TB_NOT_READY', 'HQ has no catalog yet');
      for (const c of changes) {
        if (c.op === 'upsert') {
          if (!taxClasses.some((t) => t.name === c.item.taxClass)) throw new LedgerError('TB_VALIDATION', `unknown tax class ${c.item.taxClass}`);
          await this.#putItem(tx, c.item);
        } else if (c.op === 'delete') {
          const r = await tx.query('DELETE FROM catalog_items WHERE sku = $1', [c.sku]);
          if (r.rowCount === 0) throw new LedgerError('TB_NOT_FOUND', `no catalog item ${c.sku}`);
        } else {
          const r = await tx.query<{ item: CatalogItem }>('SELECT item FROM catalog_items WHERE sku = $1 FOR UPDATE', [c.sku]);
          const item = r.rows[0]?.item;
          if (!item) throw new LedgerError('TB_NOT_FOUND', `no catalog item ${c.sku}`);
          await this.#putItem(tx, { ...item, price: c.price });
        }
      }
      await tx.query('UPDATE catalog_meta SET change_no = change_no + 1 WHERE id = 1');
      const devices = await tx.query<{ device_id: string }>('SELECT device_id FROM devices ORDER BY device_id');
      const out: AddressedUpdate[] = [];
      let full: CatalogData | undefined;
      for (const d of devices.rows) {
        const v = await this.#bump(tx, d.device_id);
        const publishedAt = new Date(this.#now()).toISOString();
        if (v.previous === 0) {
          full ??= await this.catalog(tx);
          out.push({ deviceId: d.device_id, update: { v: 1, kind: 'full', version: v.version, catalog: full, publishedAt } });
        } else {
          out.push({ deviceId: d.device_id, update: { v: 1, kind: 'delta', version: v.version, baseVersion: v.previous, changes, publishedAt } });
        }
      }
      return out;
    });
  }

  /** A full catalog for one device (first contact or resync), at its next version. */
  async fullFor(deviceId: string, storeId = 'unknown'): Promise<AddressedUpdate> {
    return this.#db.transaction(async (tx) => {
      await tx.query('INSERT INTO devices (device_id, store_id) VALUES ($1, $2) ON CONFLICT (device_id) DO NOTHING', [deviceId, storeId]);
      const v = await this.#bump(tx, deviceId);
      const catalog = await this.catalog(tx);
      return { deviceId, update: { v: 1, kind: 'full', version: v.version, catalog, publishedAt: new Date(this.#now()).toISOString() } };
    });
  }

  async #bump(tx: Queryable, deviceId: string): Promise<{ previous: number; version: number }> {
    const r = await tx.query<{ catalog_version: number }>('SELECT catalog_version FROM devices WHERE device_id = $1 FOR UPDATE', [deviceId]);
    const previous = r.rows[0]?.catalog_version ?? 0;
    await tx.query('UPDATE devices SET catalog_version = $2 WHERE device_id = $1', [deviceId, previous + 1]);
    return { previous, version: previous + 1 };
  }
}
