import { randomUUID } from 'node:crypto';
import type { JournalEvent } from '../../contract/events.ts';
import type { ConflictKind, ConflictNotice } from '../../contract/sync.ts';
import type { Logger } from '../log.ts';
import type { Queryable } from './db.ts';
import { toNotice, type ConflictRow } from './rows.ts';

// Raising a conflict, the one way every rule does it: deduplicated by a key
// per rule and event, so a re-applied batch never raises it twice.

export async function raiseConflict(
  tx: Queryable,
  log: Logger,
  c: { dedupeKey: string; event: JournalEvent; kind: ConflictKind; status: 'open' | 'held'; detail: string; sku?: string; at: Date },
): Promise<ConflictNotice | undefined> {
  const r = await tx.query<ConflictRow>(
    `INSERT INTO conflicts (id, dedupe_key, device_id, store_id, seq, event_id, kind, status, detail, sku, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (dedupe_key) DO NOTHING RETURNING *`,
    [randomUUID(), c.dedupeKey, c.event.deviceId, c.event.storeId, c.event.seq, c.event.id, c.kind, c.status, c.detail, c.sku ?? null, c.at],
  );
  const row = r.rows[0];
  if (row) log.info({ conflictId: row.id, kind: c.kind, deviceId: row.device_id, seq: row.seq }, 'conflict raised');
  return row ? toNotice(row) : undefined;
}
