// Journal benchmark: raw fsync baseline vs durable journal appends (1 client,
// then 32 concurrent clients). Numbers, not pass/fail; the target is
// appendsPerSec32 >= 10 x fsync appendsPerSec, which only group commit can reach.
// Run alone: node_modules/.bin/node bench/journal.ts [dir]
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestHash } from '../appliance/journal/hash.ts';
import { LevelJournal } from '../appliance/journal/level-journal.ts';
import { silentLogger } from '../appliance/log.ts';

const FSYNC_RECORD_BYTES = 300;
const FSYNC_MAX_RECORDS = 2000;
const FSYNC_MAX_MS = 2000;
const SEQUENTIAL_MAX_MS = 2000;
const SEQUENTIAL_MAX = 2000;
const CONCURRENT_CLIENTS = 32;
const CONCURRENT_MAX_MS = 3000;
const CONCURRENT_MAX = 20_000;

export interface FsyncResult {
  appendsPerSec: number;
}

export interface JournalBenchResult {
  appendsPerSec1: number;
  appendsPerSec32: number;
  p50Ms32: number;
  p99Ms32: number;
  batches32: number;
}

/** Raw baseline: 300-byte appends to one file in `dir`, fsync after each. */
export async function benchFsync(opts: { dir: string }): Promise<FsyncResult> {
  const file = join(opts.dir, `fsync-bench-${process.pid}.dat`);
  const record = Buffer.alloc(FSYNC_RECORD_BYTES, 0x61);
  record[FSYNC_RECORD_BYTES - 1] = 0x0a;
  const fd = openSync(file, 'a');
  let n = 0;
  const start = performance.now();
  try {
    while (n < FSYNC_MAX_RECORDS && performance.now() - start < FSYNC_MAX_MS) {
      writeSync(fd, record);
      fsyncSync(fd);
      n += 1;
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return { appendsPerSec: n / ((performance.now() - start) / 1000) };
}

/** A sale-sized payload (~600 B of JSON), distinct per call. */
function salePayload(i: number): Record<string, unknown> {
  return {
    saleNo: i,
    currency: 'EUR',
    lines: Array.from({ length: 5 }, (_, l) => ({
      sku: `SKU-${String(1000 + l).padStart(6, '0')}`,
      barcode: '4006381333931',
      name: `Demo item number ${l}`,
      qty: 1 + l,
      unitPrice: 199 + l * 50,
      taxClass: 'standard',
    })),
    tenders: [{ type: 'cash', amount: 4975 }],
    total: 4975,
    till: 'till-01',
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Durable journal appends, 1 client sequentially then 32 concurrent clients. */
export async function benchJournal(opts: { dir: string }): Promise<JournalBenchResult> {
  const dir = mkdtempSync(join(opts.dir, 'journal-bench-'));
  const journal = new LevelJournal({ dir, deviceId: 'bench-box', storeId: 'bench-store', log: silentLogger() });
  await journal.start();
  let next = 0;
  const append = async (): Promise<void> => {
    const i = next++;
    const payload = salePayload(i);
    await journal.append({ type: 'sale', payload, idempotencyKey: `bench-${i}`, requestHash: requestHash(payload) });
  };
  try {
    let n1 = 0;
    const t1 = performance.now();
    while (n1 < SEQUENTIAL_MAX && performance.now() - t1 < SEQUENTIAL_MAX_MS) {
      await append();
      n1 += 1;
    }
    const appendsPerSec1 = n1 / ((performance.now() - t1) / 1000);

    const batchesBefore = journal.stats.batches;
    const latencies: number[] = [];
    let started = 0;
    const t32 = performance.now();
    const client = async (): Promise<void> => {
      while (started < CONCURRENT_MAX && performance.now() - t32 < CONCURRENT_MAX_MS) {
        started += 1;
        const t = performance.now();
        await append();
        latencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_CLIENTS }, client));
    const elapsed32 = (performance.now() - t32) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      appendsPerSec1,
      appendsPerSec32: latencies.length / elapsed32,
      p50Ms32: percentile(latencies, 50),
      p99Ms32: percentile(latencies, 99),
      batches32: journal.stats.batches - batchesBefore,
    };
  } finally {
    await journal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const base = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'tillbox-bench-'));
  const fsync = await benchFsync({ dir: base });
  const journal = await benchJournal({ dir: base });
  const round = (x: number): number => Math.round(x * 10) / 10;
  console.table({
    'fsync 300 B appends/s': round(fsync.appendsPerSec),
    'journal 1 client appends/s': round(journal.appendsPerSec1),
    'journal 32 clients appends/s': round(journal.appendsPerSec32),
    'journal 32 p50 ms': round(journal.p50Ms32),
    'journal 32 p99 ms': round(journal.p99Ms32),
    'journal 32 batches (fsyncs)': journal.batches32,
    'ratio 32-client / fsync (target >= 10)': round(journal.appendsPerSec32 / fsync.appendsPerSec),
  });
  if (process.argv[2] === undefined) rmSync(base, { recursive: true, force: true });
}
