// History checker for sync fault tests: compares what the box committed with
// what HQ holds and reports every anomaly by event id, instead of a bare
// count that can hide a loss behind a duplicate.

export interface HistoryEvent {
  id: string;
  seq: number;
  deviceId?: string;
}

export interface HistoryReport {
  ok: boolean;
  boxEvents: number;
  hqEvents: number;
  /** Committed on a box, absent at HQ. */
  lost: string[];
  /** Present at HQ more than once. */
  duplicated: string[];
  /** At HQ but never committed by any box (phantoms, corruption). */
  unseen: string[];
  /** Same id, different (device, seq) at HQ than on the box. */
  mismatched: string[];
}

const key = (e: HistoryEvent) => `${e.deviceId ?? ''}#${e.seq}`;

export function checkHistory(box: readonly HistoryEvent[], hq: readonly HistoryEvent[]): HistoryReport {
  const boxById = new Map(box.map((e) => [e.id, e]));
  const hqCount = new Map<string, number>();
  const hqBySlot = new Map<string, number>();
  const mismatched: string[] = [];
  for (const e of hq) {
    hqCount.set(e.id, (hqCount.get(e.id) ?? 0) + 1);
    hqBySlot.set(key(e), (hqBySlot.get(key(e)) ?? 0) + 1);
    const b = boxById.get(e.id);
    if (b && (b.seq !== e.seq || (b.deviceId !== undefined && e.deviceId !== undefined && b.deviceId !== e.deviceId))) mismatched.push(e.id);
  }
  const lost = box.filter((e) => !hqCount.has(e.id)).map((e) => e.id);
  const duplicated = [...hqCount].filter(([, n]) => n > 1).map(([id]) => id);
  for (const e of hq) if ((hqBySlot.get(key(e)) ?? 0) > 1 && !duplicated.includes(e.id)) duplicated.push(e.id);
  const unseen = [...hqCount.keys()].filter((id) => !boxById.has(id));
  return {
    ok: lost.length === 0 && duplicated.length === 0 && unseen.length === 0 && mismatched.length === 0,
    boxEvents: box.length,
    hqEvents: hq.length,
    lost,
    duplicated,
    unseen,
    mismatched,
  };
}

/** A short human summary for assertion messages. */
export function describeHistory(r: HistoryReport): string {
  const few = (xs: string[]) => (xs.length > 5 ? `${xs.slice(0, 5).join(', ')} … (${xs.length})` : xs.join(', ') || 'none');
  return `box ${r.boxEvents}, hq ${r.hqEvents}; lost: ${few(r.lost)}; duplicated: ${few(r.duplicated)}; unseen: ${few(r.unseen)}; mismatched: ${few(r.mismatched)}`;
}

/** What a sync test or benchmark asks HQ (the model HQ in tests, the real one in its own process). */
export interface CloudHq {
  /** HQ's contiguous watermark for a device (0 when unknown). */
  watermark(deviceId: string): Promise<number>;
  /** Every event HQ holds for a device, in seq order. */
  events(deviceId: string): Promise<HistoryEvent[]>;
  /** HQ's inventory delta per sku for a store. */
  inventory(storeId: string): Promise<Map<string, number>>;
  conflicts(): Promise<Array<{ kind: string; eventId: string; deviceId: string; sku?: string; status: string }>>;
  stop(): Promise<void>;
}
