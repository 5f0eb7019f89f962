import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log.ts';
import { SyncStateStore, syncPaths } from './sync-state.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function store(): { s: SyncStateStore; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-syncstate-'));
  dirs.push(dir);
  const file = syncPaths(dir).state;
  return { s: new SyncStateStore(file, silentLogger()), file };
}

describe('SyncStateStore', () => {
  it('moves the watermark only up and compacts acked seqs right above it', async () => {
    const { s, file } = store();
    await s.load();
    s.applyAck(3, [5, 6, 9], 'now');
    expect([s.lastAckedSeq, s.ackedAboveCount, s.isAcked(5), s.isAcked(4), s.isAcked(7)]).toEqual([3, 3, true, false, false]);
    s.applyAck(4, [], 'now');
    expect([s.lastAckedSeq, s.ackedAboveCount]).toEqual([6, 1]);
    s.applyAck(2, [], 'later'); // a stale ack
    expect(s.lastAckedSeq).toBe(6);
    await s.save();
    const again = new SyncStateStore(file, silentLogger());
    await again.load();
    expect([again.lastAckedSeq, again.isAcked(9), again.isAcked(8), again.lastAckAt]).toEqual([6, true, false, 'later']);
  });

  it('rewinds (only down) when HQ expects an older seq, forgetting above-watermark acks', async () => {
    const { s } = store();
    await s.load();
    s.applyAck(10, [12], 'now');
    s.rewindTo(20);
    expect(s.lastAckedSeq).toBe(10);
    s.rewindTo(4);
    expect([s.lastAckedSeq, s.ackedAboveCount]).toEqual([3, 0]);
  });

  it('keeps a loss ledger until a report covers it', async () => {
    const { s } = store();
    await s.load();
    s.recordLoss('mapped', 'out:a/#', 2, 't1');
    s.recordLoss('mapped', 'out:a/#', 3, 't2');
    const reported = s.lossEntries();
    expect(reported).toEqual([{ lane: 'mapped', rule: 'out:a/#', dropped: 5, firstDroppedAt: 't1', lastDroppedAt: 't2' }]);
    s.recordLoss('mapped', 'out:a/#', 1, 't3'); // after the report was built
    s.clearReportedLoss(reported);
    expect(s.lossEntries()).toEqual([expect.objectContaining({ dropped: 1 })]);
    expect(s.droppedTotal).toBe(6);
  });

  it('starts from zero on an unreadable file (costs resends, never loses)', async () => {
    const { s, file } = store();
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, '{"v":1,"lastAck');
    await s.load();
    expect(s.lastAckedSeq).toBe(0);
  });
});
