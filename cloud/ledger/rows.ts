import type { ConflictKind, ConflictNotice, ConflictResolution } from '../../contract/sync.ts';

// Row shapes of the ledger's tables and the small helpers every part of the
// ledger shares (apply, conflict rules, queries).

export interface ConflictRow {
  id: string;
  device_id: string;
  store_id: string;
  seq: number;
  event_id: string;
  kind: ConflictKind;
  status: 'open' | 'held' | 'resolved';
  detail: string;
  sku: string | null;
  compensation: ConflictNotice['compensation'] | null;
  resolution: ConflictResolution | null;
  created_at: Date;
}

export interface MoveRow {
  event_id: string;
  line: number;
  store_id: string;
  sku: string;
  hlc: string;
  device_id: string;
  seq: number;
  kind: string;
  delta: number;
  shortfall: number;
  ord: string;
}

export interface SkuState {
  tracked: boolean;
  initial: number;
  delta: number;
  maxOrd: string;
  touched: boolean;
}

export interface SaleLines {
  tax: number;
  lines: { sku: string; qty: number; weightGrams?: number }[];
}

export function iso(d: Date | string | null): string | null {
  if (d === null) return null;
  return d instanceof Date ? d.toISOString() : new Date(d).toISOString();
}

/** The wall-clock part of an HLC (`<wallMs 15 digits>-<counter>-<node>`). */
export function hlcWallMs(hlc: string): number {
  return Number(hlc.slice(0, 15));
}

export function moveOrd(hlc: string, eventId: string, line: number): string {
  return `${hlc} ${eventId} ${String(line).padStart(4, '0')}`;
}

/** Bytewise string order, the same as the database's COLLATE "C". */
export function cmp(a: string, b: string): number {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return Buffer.compare(ba, bb);
}

export function toNotice(r: ConflictRow): ConflictNotice {
  const n: ConflictNotice = {
    id: r.id,
    deviceId: r.device_id,
    storeId: r.store_id,
    seq: r.seq,
    eventId: r.event_id,
    kind: r.kind,
    status: r.status,
    detail: r.detail,
    createdAt: iso(r.created_at)!,
  };
  if (r.sku !== null) n.sku = r.sku;
  if (r.compensation) n.compensation = r.compensation;
  if (r.resolution) n.resolution = r.resolution;
  return n;
}

/** Collects conflict notices by id (the last state wins). */
export class NoticeSet {
  readonly #byId = new Map<string, ConflictNotice>();
  add(n: ConflictNotice): void {
    this.#byId.set(n.id, n);
  }
  list(): ConflictNotice[] {
    return [...this.#byId.values()];
  }
}
