import type { JournalEvent } from '../../../contract/events.ts';
import type { PriceOverriddenPayload } from '../../../contract/pos.ts';
import type { ConflictNotice } from '../../../contract/sync.ts';
import type { Logger } from '../../log.ts';
import { raiseConflict } from '../conflicts.ts';
import type { Queryable } from '../db.ts';

// The price-override rule: a price.overridden is authorized when the actor is
// a manager AND an HQ price authorization covers it; otherwise finance gets an
// unauthorized-price-override conflict. The event is applied either way.

export async function checkPriceOverride(tx: Queryable, log: Logger, e: JournalEvent<PriceOverriddenPayload>, at: Date): Promise<ConflictNotice | undefined> {
  const p = e.payload;
  let authorized = false;
  if (p.by.role === 'manager') {
    const r = await tx.query(
      `SELECT 1 FROM price_authorizations WHERE sku = $1 AND store_id IN ($2, '*')
         AND (min_price IS NULL OR min_price <= $3) AND (max_price IS NULL OR max_price >= $3) LIMIT 1`,
      [p.sku, e.storeId, p.price],
    );
    authorized = r.rows.length > 0;
  }
  if (authorized) return undefined;
  const why = p.by.role === 'manager' ? 'no HQ price authorization covers it' : `actor ${p.by.name} is not a manager`;
  return raiseConflict(tx, log, {
    dedupeKey: `unauthorized-price-override:${e.id}`,
    event: e,
    kind: 'unauthorized-price-override',
    status: 'open',
    sku: p.sku,
    detail: `price of ${p.sku} overridden from ${p.previousPrice} to ${p.price} ${p.currency} by ${p.by.name} (${p.reason}): ${why}; flagged for finance`,
    at,
  });
}
