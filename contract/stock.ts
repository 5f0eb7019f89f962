import { PosEventType, type InventoryAdjustedPayload, type RefundPayload, type SalePayload } from './pos.ts';

// The stock-move rule, once, for the box's projection (appliance/pos) and
// HQ's ledger (cloud/ledger): which events move stock, by how much. A
// weighed line moves its grams, any other line its quantity; a refund moves
// back only the lines it restocks, by what the sale line moved; a void moves
// back every line of its sale; an adjustment moves its delta. Inventory is
// kept as deltas (commutative), so the order of moves never changes the sum.
// (The sync tests' oracle in test/sync/cloud.ts is an independent copy on
// purpose: it checks this one.)

export interface SoldLine {
  sku: string;
  qty: number;
  weightGrams?: number | undefined;
}

export interface StockMove {
  /** Index of the line in the event (0 for an adjustment). */
  line: number;
  sku: string;
  kind: 'sale' | 'refund' | 'void' | 'adjust';
  delta: number;
}

/** How much stock one sold line took. */
export const lineUnits = (l: SoldLine): number => l.weightGrams ?? l.qty;

/**
 * The stock moves of one POS event. Refunds and voids need the lines of the
 * sale they refer to: `saleLines(saleId)`; a sale not known (yet) moves
 * nothing, and the caller restocks when it arrives.
 */
export function stockMoves(type: string, payload: unknown, saleLines: (saleId: string) => readonly SoldLine[] | undefined): StockMove[] {
  switch (type) {
    case PosEventType.Sale:
      return (payload as SalePayload).lines.map((l, i) => ({ line: i, sku: l.sku, kind: 'sale', delta: -lineUnits(l) }));
    case PosEventType.Refund: {
      const p = payload as RefundPayload;
      const sold = saleLines(p.saleId);
      if (!sold) return [];
      const out: StockMove[] = [];
      p.lines.forEach((l, i) => {
        const s = sold[l.line];
        if (l.restock && s) out.push({ line: i, sku: l.sku, kind: 'refund', delta: s.weightGrams ?? l.qty });
      });
      return out;
    }
    case PosEventType.Void: {
      const sold = saleLines((payload as { saleId: string }).saleId);
      return (sold ?? []).map((l, i) => ({ line: i, sku: l.sku, kind: 'void', delta: lineUnits(l) }));
    }
    case PosEventType.InventoryAdjusted: {
      const p = payload as InventoryAdjustedPayload;
      return [{ line: 0, sku: p.sku, kind: 'adjust', delta: p.delta }];
    }
    default:
      return [];
  }
}
