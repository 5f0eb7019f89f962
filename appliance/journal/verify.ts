import { existsSync } from 'node:fs';
import { Level } from 'level';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { EVENT_END, EVENT_PREFIX, META_KEY, decodeMeta, decodeRecord, idIndexKey, idempotencyIndexKey, quarantineKey, seqFromEventKey, type QuarantineEntry } from './record.ts';
import type { IntegrityReport } from './types.ts';

export type JournalDb = Level<string, string>;

export function openDb(dir: string, createIfMissing: boolean): JournalDb {
  return new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8', createIfMissing });
}

/**
 * Moves a corrupt value out of the event keyspace into q!, atomically and
 * durably, so it is never served again but stays available for forensics.
 */
export async function quarantine(db: JournalDb, key: string, seq: number | null, reason: string, raw: string, now: number): Promise<void> {
  const entry: QuarantineEntry = { key, seq, reason, raw, quarantinedAt: new Date(now).toISOString() };
  await db.batch(
    [
      { type: 'put', key: quarantineKey(key, now), value: JSON.stringify(entry) },
      { type: 'del', key },
    ],
    { sync: true },
  );
}

export interface ScanOptions {
  /** Move corrupt records to quarantine (true) or only report them (false). */
  repair: boolean;
  log: Logger;
  now: () => number;
}

/**
 * Full scan of the event keyspace: checksum and shape of every record, seq
 * gaps (1..lastSeq), and HLC strictly increasing in seq order.
 */
export async function scanJournal(db: JournalDb, options: ScanOptions): Promise<IntegrityReport> {
  const report: IntegrityReport = {
    ok: true,
    checked: 0,
    lastSeq: 0,
    quarantined: [],
    gaps: [],
    hlcRegressions: [],
    indexErrors: [],
  };
  const indexErrors = report.indexErrors!;
  let toCheck: Array<{ seq: number; key: string; id: string }> = [];
  const checkIndexes = async (): Promise<void> => {
    const batch = toCheck;
    toCheck = [];
    const values = await db.getMany(batch.flatMap((e) => [idempotencyIndexKey(e.key), idIndexKey(e.id)]));
    const fixes: Array<{ type: 'put'; key: string; value: string }> = [];
    batch.forEach((e, i) => {
      const byKey = values[2 * i];
      const byId = values[2 * i + 1];
      if (byKey === String(e.seq) && byId === String(e.seq)) return;
      indexErrors.push(e.seq);
      options.log.error({ seq: e.seq, byKey, byId }, 'journal index entry missing or pointing elsewhere');
      // Only fill holes; an entry pointing at another event means two events claim it: a human decides.
      if (byKey === undefined) fixes.push({ type: 'put', key: idempotencyIndexKey(e.key), value: String(e.seq) });
      if (byId === undefined) fixes.push({ type: 'put', key: idIndexKey(e.id), value: String(e.seq) });
    });
    if (options.repair && fixes.length > 0) await db.batch(fixes, { sync: true });
  };
  // Meta first, then the iterator (which snapshots): every event meta counts is
  // in the snapshot even while appends continue, so no false tail gaps.
  const metaRaw = await db.get(META_KEY);
  const meta = metaRaw === undefined ? undefined : decodeMeta(metaRaw);
  let expected = 1;
  let prevHlc = '';
  const bad: Array<{ key: string; seq: number | null; reason: string; raw: string }> = [];
  for await (const [key, raw] of db.iterator({ gte: EVENT_PREFIX, lt: EVENT_END })) {
    report.checked += 1;
    const seq = seqFromEventKey(key);
    const decoded = decodeRecord(raw, seq);
    if (!decoded.ok || seq === null) {
      const reason = decoded.ok ? 'malformed event key' : decoded.reason;
      bad.push({ key, seq, reason, raw });
      if (seq !== null) {
        for (let s = expected; s < seq; s++) report.gaps.push(s);
        expected = seq + 1;
      }
      continue;
    }
    for (let s = expected; s < seq; s++) report.gaps.push(s);
    expected = seq + 1;
    if (prevHlc !== '' && decoded.record.event.hlc <= prevHlc) report.hlcRegressions.push(seq);
    prevHlc = decoded.record.event.hlc;
    toCheck.push({ seq, key: decoded.record.event.idempotencyKey, id: decoded.record.event.id });
    if (toCheck.length >= 256) await checkIndexes();
  }
  if (toCheck.length > 0) await checkIndexes();
  // Quarantine after the scan: deleting under a live iterator is legal in LevelDB
  // but needlessly subtle.
  for (const b of bad) {
    if (options.repair) await quarantine(db, b.key, b.seq, b.reason, b.raw, options.now());
    options.log.error({ key: b.key, seq: b.seq, reason: b.reason, repaired: options.repair }, 'corrupt journal record');
    report.quarantined.push({ seq: b.seq, key: b.key, reason: b.reason });
    if (b.seq !== null) report.gaps.push(b.seq);
  }
  if (metaRaw !== undefined && meta === undefined) {
    report.quarantined.push({ seq: null, key: META_KEY, reason: 'unparsable meta record' });
  }
  report.lastSeq = Math.max(expected - 1, meta?.lastSeq ?? 0);
  // The persisted clock, or the newest event's: doctor compares the wall clock with it.
  report.lastHlc = meta?.hlc || prevHlc || undefined;
  // Committed per meta but absent from the event range: lost at the tail.
  for (let s = expected; s <= report.lastSeq; s++) report.gaps.push(s);
  report.gaps.sort((a, b) => a - b);
  report.ok = report.quarantined.length === 0 && report.gaps.length === 0 && report.hlcRegressions.length === 0 && indexErrors.length === 0;
  return report;
}

export type OfflineVerifyResult = { state: 'ok' | 'corrupt'; report: IntegrityReport; message: string } | { state: 'locked' | 'missing' | 'error'; report: null; message: string };

export interface VerifyJournalOptions {
  dir: string;
  log?: Logger;
  /** Quarantine what is found (default false: doctor only reports). */
  repair?: boolean;
  now?: () => number;
}

/**
 * Offline integrity check for `tillbox doctor`: opens the journal directory on
 * its own (no LevelJournal, no box). LevelDB allows one opener, so while the box
 * runs this answers `locked` instead of throwing.
 */
export async function verifyJournal(options: VerifyJournalOptions): Promise<OfflineVerifyResult> {
  const log = options.log ?? silentLogger();
  if (!existsSync(options.dir)) {
    return { state: 'missing', report: null, message: `no journal at ${options.dir}` };
  }
  const db = openDb(options.dir, false);
  try {
    await db.open();
  } catch (err) {
    if (isLockedError(err)) {
      return { state: 'locked', report: null, message: `journal is locked (box running?): ${options.dir}` };
    }
    return { state: 'error', report: null, message: `cannot open journal ${options.dir}: ${describe(err)}` };
  }
  try {
    const report = await scanJournal(db, { repair: options.repair ?? false, log, now: options.now ?? Date.now });
    const message = report.ok
      ? `journal ok: ${report.checked} events, lastSeq ${report.lastSeq}`
      : `journal has problems: ${report.quarantined.length} corrupt, ${report.gaps.length} missing seq, ` +
        `${report.hlcRegressions.length} HLC regressions, ${report.indexErrors?.length ?? 0} index errors`;
    return { state: report.ok ? 'ok' : 'corrupt', report, message };
  } catch (err) {
    return { state: 'error', report: null, message: `journal scan failed: ${describe(err)}` };
  } finally {
    await db.close();
  }
}

export { isCorruptionError, repairDb } from '../storage/level-repair.ts';

export function isLockedError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'LEVEL_LOCKED') return true;
  }
  return false;
}

function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(': ') || String(err);
}
