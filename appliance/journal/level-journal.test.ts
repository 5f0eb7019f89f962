import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isRetryable, isTillboxError } from '../../contract/errors.ts';
import { silentLogger } from '../log.ts';
import { requestHash } from './hash.ts';
import { LevelJournal, type LevelJournalOptions } from './level-journal.ts';
import { eventKey } from './record.ts';
import { openDb, type JournalDb } from './verify.ts';
import type { JournalEvent } from './types.ts';

const dirs: string[] = [];
const open: LevelJournal[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-journal-'));
  dirs.push(dir);
  return dir;
}

function journal(dir: string, extra: Partial<LevelJournalOptions> = {}): LevelJournal {
  const j = new LevelJournal({ dir, deviceId: 'box-1', storeId: 'store-1', log: silentLogger(), ...extra });
  open.push(j);
  return j;
}

async function started(dir: string, extra: Partial<LevelJournalOptions> = {}): Promise<LevelJournal> {
  const j = journal(dir, extra);
  await j.start();
  return j;
}

function sale(key: string, payload: unknown = { total: 100, key }) {
  return { type: 'sale', payload, idempotencyKey: key, requestHash: requestHash(payload) };
}

async function readAll(j: LevelJournal): Promise<JournalEvent[]> {
  const all: JournalEvent[] = [];
  for (;;) {
    const page = await j.read({ after: all.at(-1)?.seq ?? 0, limit: 1000 });
    if (page.length === 0) return all;
    all.push(...page);
  }
}

afterEach(async () => {
  for (const j of open.splice(0)) await j.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('LevelJournal', () => {
  it('assigns gap-free seq from 1 and continues after a restart', async () => {
    const dir = tempDir();
    const a = await started(dir);
    for (let i = 0; i < 5; i++) await a.append(sale(`k${i}`));
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.append(sale(`c${i}`))));
    expect(a.lastSeq).toBe(25);
    await a.stop();

    const b = await started(dir);
    expect(b.lastSeq).toBe(25);
    const next = await b.append(sale('after-restart'));
    expect(next.event.seq).toBe(26);
    expect((await readAll(b)).map((e) => e.seq)).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
  });

  it('stores the full event with a UUIDv7 id and returns exactly what it stored', async () => {
    const j = await started(tempDir());
    const { event } = await j.append(sale('k1', { lines: [{ sku: 'A', qty: 1 }], note: undefined }));
    expect(event).toMatchObject({ deviceId: 'box-1', storeId: 'store-1', seq: 1, type: 'sale', idempotencyKey: 'k1' });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.payload).toEqual({ lines: [{ sku: 'A', qty: 1 }] });
    expect(await j.getById(event.id)).toEqual(event);
    expect(await j.getBySeq(1)).toEqual(event);
    expect(await j.getByIdempotencyKey('k1')).toEqual(event);
    expect(await j.getById('nope')).toBeUndefined();
    expect(await j.getBySeq(2)).toBeUndefined();
  });

  it('keeps the HLC increasing when the wall clock jumps back, forward, and across a restart', async () => {
    const dir = tempDir();
    let wall = 1_800_000_000_000;
    const now = (): number => wall;
    const a = await started(dir, { now });
    const stamps: string[] = [];
    stamps.push((await a.append(sale('a'))).event.hlc);
    wall -= 10 * 60_000;
    stamps.push((await a.append(sale('b'))).event.hlc);
    stamps.push(...(await Promise.all([a.append(sale('c')), a.append(sale('d'))])).map((r) => r.event.hlc));
    wall += 30 * 60_000;
    stamps.push((await a.append(sale('e'))).event.hlc);
    await a.stop();

    wall -= 24 * 60 * 60_000; // restart a day in the past
    const b = await started(dir, { now });
    stamps.push((await b.append(sale('f'))).event.hlc);
    stamps.push((await b.append(sale('g'))).event.hlc);
    expect([...stamps].sort()).toEqual(stamps);
    expect(new Set(stamps).size).toBe(stamps.length);
    expect((await b.verify()).hlcRegressions).toEqual([]);
  });

  it('returns the original event for a retried idempotency key, in flight or durable, even after restart', async () => {
    const dir = tempDir();
    const a = await started(dir);
    const [first, second] = await Promise.all([a.append(sale('same')), a.append(sale('same'))]);
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(second.event.id).toBe(first.event.id);
    const later = await a.append(sale('same'));
    expect(later).toEqual({ event: first.event, replayed: true });
    expect(a.lastSeq).toBe(1);
    await a.stop();

    const b = await started(dir);
    const afterRestart = await b.append(sale('same'));
    expect(afterRestart.replayed).toBe(true);
    expect(afterRestart.event.id).toBe(first.event.id);
    expect(b.lastSeq).toBe(1);
  });

  it('refuses the same idempotency key with a different request as a conflict', async () => {
    const j = await started(tempDir());
    const inFlight = j.append(sale('k', { total: 1 }));
    await expect(j.append(sale('k', { total: 2 }))).rejects.toMatchObject({ code: ErrorCode.IdempotencyConflict });
    await inFlight;
    const err = await j.append(sale('k', { total: 3 })).catch((e: unknown) => e);
    expect(isTillboxError(err, ErrorCode.IdempotencyConflict)).toBe(true);
    expect(j.lastSeq).toBe(1);
  });

  it('shares fsyncs between concurrent appends (group commit)', async () => {
    const j = await started(tempDir());
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => j.append(sale(`g${i}`))));
    expect(j.stats.appends).toBe(200);
    expect(j.stats.batches).toBeLessThan(200);
    expect(j.stats.maxBatch).toBeGreaterThan(1);
    // Seq follows append order.
    expect(results.map((r) => r.event.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('calls onCommit listeners in seq order and isolates a throwing listener', async () => {
    const j = await started(tempDir());
    const seen: number[] = [];
    const seenLate: number[] = [];
    j.onCommit(() => {
      throw new Error('listener bug');
    });
    j.onCommit((e) => seen.push(e.seq));
    const off = j.onCommit((e) => seenLate.push(e.seq));
    await Promise.all(Array.from({ length: 50 }, (_, i) => j.append(sale(`o${i}`))));
    off();
    await j.append(sale('after-unsubscribe'));
    expect(seen).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(seenLate).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('does not call onCommit for a replayed append', async () => {
    const j = await started(tempDir());
    const seen: string[] = [];
    j.onCommit((e) => seen.push(e.idempotencyKey));
    await j.append(sale('x'));
    await j.append(sale('x'));
    expect(seen).toEqual(['x']);
  });

  it('stop() commits pending appends before closing and later appends are refused', async () => {
    const dir = tempDir();
    const a = await started(dir);
    const pending = Array.from({ length: 30 }, (_, i) => a.append(sale(`p${i}`)));
    await a.stop();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.event.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const err = await a.append(sale('late')).catch((e: unknown) => e);
    expect(isTillboxError(err, ErrorCode.JournalClosed)).toBe(true);
    const b = await started(dir);
    expect(b.lastSeq).toBe(30);
  });

  it('leaves no seq gap when a batch fails, reports the failure as retryable, and reopens before writing again', async () => {
    const opened = openedDbs();
    const j = await started(tempDir(), { openDb: opened.open });
    await j.append(sale('ok-1'));
    const db = opened.last() as unknown as { batch: (...args: unknown[]) => Promise<void> };
    db.batch = () => Promise.reject(new Error('EIO: fsync failed'));
    const err = await j.append(sale('fails')).catch((e: unknown) => e);
    expect(isTillboxError(err, ErrorCode.JournalWriteFailed)).toBe(true);
    expect(isRetryable(err)).toBe(true);
    expect(j.lastSeq).toBe(1);
    // Never on top of the failed log: appends are refused until the LevelDB is reopened.
    expect(j.condition).toBe('recovering');
    const meanwhile = await j.append(sale('meanwhile')).catch((e: unknown) => e);
    expect(isTillboxError(meanwhile, ErrorCode.StorageRecovering)).toBe(true);
    await waitFor(() => j.condition === 'open');
    expect(opened.all.length).toBe(2);
    expect(opened.last()).not.toBe(db);
    const retried = await j.append(sale('fails'));
    expect(retried).toMatchObject({ replayed: false, event: { seq: 2 } });
    expect(j.stats).toMatchObject({ failedBatches: 1, reopens: 1 });
    expect((await j.verify()).ok).toBe(true);
  });

  it('notices a lost tail that other stores had seen, reports it as missing, and never reuses those seqs', async () => {
    const dir = tempDir();
    const j = await started(dir);
    for (let i = 1; i <= 3; i++) await j.append(sale(`s${i}`));
    await j.stop();
    // The publish cursor or HQ's watermark says seq 5 was committed; the journal holds 3.
    const again = await started(dir, { knownSeq: () => 5 });
    expect(again.lastSeq).toBe(5);
    expect(again.lostTail).toEqual({ from: 4, to: 5 });
    expect((await again.append(sale('next'))).event.seq).toBe(6);
    const report = await again.verify();
    expect(report.ok).toBe(false);
    expect(report.gaps).toEqual([4, 5]);
  });

  it('starts on a journal whose table file has flipped bits: repairs it, never serves a damaged record, reports what is missing, reuses no seq', async () => {
    const dir = tempDir();
    let j = await started(dir);
    const payload = { total: 100, note: 'abc'.repeat(100) };
    for (let i = 0; i < 40; i++) await Promise.all(Array.from({ length: 50 }, (_, k) => j.append(sale(`b${i}-${k}`, { ...payload, i, k }))));
    await j.stop();
    j = await started(dir); // the log becomes a table file
    await j.stop();
    const table = readdirSync(dir).find((f) => f.endsWith('.ldb'))!;
    const bytes = readFileSync(join(dir, table));
    for (const at of [0.25, 0.5, 0.75]) {
      const i = Math.floor(bytes.length * at);
      bytes[i] = bytes[i]! ^ 0x40;
    }
    writeFileSync(join(dir, table), bytes);

    j = await started(dir);
    const events: Array<{ seq: number; idempotencyKey: string }> = [];
    for (let after = 0; ; ) {
      const page = await j.read({ after, limit: 1000 });
      if (page.length === 0) break;
      events.push(...page);
      after = page[page.length - 1]!.seq;
    }
    expect(events.length).toBeGreaterThan(1500);
    expect(events.length).toBeLessThan(2000);
    expect(new Set(events.map((e) => e.idempotencyKey)).size).toBe(events.length);
    const report = await j.verify();
    expect(report.ok).toBe(false);
    expect(report.gaps.length + events.length).toBe(2000);
    expect((await j.append(sale('after-repair'))).event.seq).toBe(2001);
    await j.stop();
  });

  it('adopts a refused batch that recovery finds on disk, and tells onCommit listeners', async () => {
    const opened = openedDbs();
    const j = await started(tempDir(), { openDb: opened.open });
    await j.append(sale('ok-1'));
    const db = opened.last() as unknown as { batch: (...args: unknown[]) => Promise<void> };
    const realBatch = db.batch.bind(db);
    // The write lands, but the fsync "fails": the caller is refused, the data is there.
    db.batch = async (...args: unknown[]) => {
      await realBatch(...args);
      throw new Error('EIO: fsync failed');
    };
    const heard: number[] = [];
    j.onCommit((e) => heard.push(e.seq));
    await expect(j.append(sale('landed'))).rejects.toMatchObject({ code: ErrorCode.JournalWriteFailed });
    await waitFor(() => j.condition === 'open');
    expect(j.lastSeq).toBe(2);
    expect(heard).toEqual([2]);
    // The till's retry gets the original event back, not a second sale.
    expect(await j.append(sale('landed'))).toMatchObject({ replayed: true, event: { seq: 2 } });
    expect((await j.append(sale('next'))).event.seq).toBe(3);
  });

  it('rejects malformed append requests without consuming a seq', async () => {
    const j = await started(tempDir());
    await expect(j.append({ type: '', payload: {}, idempotencyKey: 'k', requestHash: 'h' })).rejects.toMatchObject({
      code: ErrorCode.Validation,
      field: 'type',
    });
    await expect(j.append({ type: 'sale', payload: {}, idempotencyKey: '', requestHash: 'h' })).rejects.toMatchObject({
      field: 'idempotencyKey',
    });
    await expect(j.append({ type: 'sale', payload: { n: Number.NaN }, idempotencyKey: 'nan', requestHash: 'h' })).rejects.toMatchObject({
      field: 'payload',
    });
    expect((await j.append(sale('good'))).event.seq).toBe(1);
  });

  it('reports no false gaps when verify runs while appends are committing', async () => {
    const j = await started(tempDir());
    await Promise.all(Array.from({ length: 50 }, (_, i) => j.append(sale(`pre${i}`))));
    const appending = Promise.all(Array.from({ length: 200 }, (_, i) => j.append(sale(`live${i}`))));
    const report = await j.verify();
    await appending;
    expect(report).toMatchObject({ ok: true, gaps: [], quarantined: [], hlcRegressions: [] });
    expect((await j.verify()).checked).toBe(250);
  });

  it('refuses to start on a journal that belongs to another device', async () => {
    const dir = tempDir();
    const a = await started(dir);
    await a.append(sale('k'));
    await a.stop();
    await expect(started(dir, { deviceId: 'box-2' })).rejects.toMatchObject({ code: ErrorCode.JournalCorrupt });
  });
});

describe('LevelJournal corruption handling', () => {
  async function corrupt(dir: string, seq: number, value: string): Promise<void> {
    const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
    await db.open();
    await db.put(eventKey(seq), value);
    await db.close();
  }

  async function tamper(dir: string, seq: number): Promise<void> {
    const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
    await db.open();
    const raw = (await db.get(eventKey(seq)))!;
    await db.put(eventKey(seq), raw.replace('"total":100', '"total":999'));
    await db.close();
  }

  async function journalWith(n: number): Promise<{ dir: string }> {
    const dir = tempDir();
    const j = await started(dir);
    for (let i = 1; i <= n; i++) await j.append(sale(`k${i}`));
    await j.stop();
    return { dir };
  }

  it('quarantines a tampered record on verify, reports it, and never serves it', async () => {
    const { dir } = await journalWith(5);
    await tamper(dir, 3);
    const j = await started(dir);
    const report = await j.verify();
    expect(report.ok).toBe(false);
    expect(report.quarantined).toEqual([{ seq: 3, key: eventKey(3), reason: 'checksum mismatch' }]);
    expect(report.gaps).toEqual([3]);
    expect(report.lastSeq).toBe(5);
    expect((await readAll(j)).map((e) => e.seq)).toEqual([1, 2, 4, 5]);
    expect(await j.getBySeq(3)).toBeUndefined();
    expect(await j.getByIdempotencyKey('k3')).toBeUndefined();
    // A retry of the lost sale must not silently become a second sale.
    await expect(j.append(sale('k3'))).rejects.toMatchObject({ code: ErrorCode.JournalCorrupt });
    // New events continue after the highest seq ever written.
    expect((await j.append(sale('k6'))).event.seq).toBe(6);
    // Still reported on the next scan (as a gap) until someone deals with it.
    const again = await j.verify();
    expect(again.ok).toBe(false);
    expect(again.quarantined).toEqual([]);
    expect(again.gaps).toEqual([3]);
  });

  it('skips and quarantines an unparsable record found by read before any verify', async () => {
    const { dir } = await journalWith(4);
    await corrupt(dir, 2, '{"v":1,"event":{trunc');
    const opened = openedDbs();
    const j = await started(dir, { openDb: opened.open });
    expect((await j.read()).map((e) => e.seq)).toEqual([1, 3, 4]);
    const report = await j.verify();
    // Already quarantined by read: only the hole remains.
    expect(report.quarantined).toEqual([]);
    expect(report.gaps).toEqual([2]);
    const db = opened.last();
    const q = await db.values({ gte: 'q!', lt: 'q"' }).all();
    expect(q).toHaveLength(1);
    expect(JSON.parse(q[0]!)).toMatchObject({ key: eventKey(2), seq: 2, raw: '{"v":1,"event":{trunc' });
    expect(JSON.parse(q[0]!).reason).toMatch(/unparsable/);
  });

  it('quarantines a corrupt tail on start and never reuses its seq', async () => {
    const { dir } = await journalWith(3);
    await corrupt(dir, 3, 'garbage');
    const j = await started(dir);
    expect(j.lastSeq).toBe(3);
    expect((await j.append(sale('k4'))).event.seq).toBe(4);
    const report = await j.verify();
    expect(report.gaps).toEqual([3]);
    expect(report.hlcRegressions).toEqual([]);
  });

  it('finds and refills a missing idempotency index entry so a retry cannot become a second sale', async () => {
    const { dir } = await journalWith(3);
    const raw = new Level<string, string>(dir, { valueEncoding: 'utf8' });
    await raw.open();
    await raw.del('k!k2');
    await raw.close();
    expect((await LevelJournal.verifyDir({ dir })).report).toMatchObject({ ok: false, indexErrors: [2] });
    const j = await started(dir);
    expect(await j.verify()).toMatchObject({ ok: false, indexErrors: [2] });
    expect(await j.verify()).toMatchObject({ ok: true, indexErrors: [] });
    expect((await j.append(sale('k2'))).replayed).toBe(true);
  });

  it('lets doctor verify a stopped journal offline and says when the box holds the lock', async () => {
    const { dir } = await journalWith(3);
    expect(await LevelJournal.verifyDir({ dir })).toMatchObject({ state: 'ok', report: { ok: true, lastSeq: 3, checked: 3 } });

    await tamper(dir, 2);
    const dry = await LevelJournal.verifyDir({ dir });
    expect(dry).toMatchObject({ state: 'corrupt', report: { ok: false, gaps: [2] } });
    // Report-only by default: the record is still there for the next run.
    expect((await LevelJournal.verifyDir({ dir })).report?.quarantined).toHaveLength(1);

    const running = await started(dir);
    const locked = await LevelJournal.verifyDir({ dir });
    expect(locked.state).toBe('locked');
    expect(locked.message).toMatch(/locked \(box running\?\)/);
    await running.stop();

    expect((await LevelJournal.verifyDir({ dir: join(dir, 'nope') })).state).toBe('missing');
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An openDb seam that remembers every LevelDB the journal opened (fault injection on the live one). */
function openedDbs() {
  const all: JournalDb[] = [];
  return {
    all,
    open: (dir: string, create: boolean): JournalDb => {
      const db = openDb(dir, create);
      all.push(db);
      return db;
    },
    last: (): JournalDb => all[all.length - 1]!,
  };
}
