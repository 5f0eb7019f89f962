// Bytes written to disk per durable sale (issue 8 §3): an SD card's life is
// its write volume. The core process's /proc/<pid>/io write_bytes (what it
// caused to be sent to the storage layer: journal, broker store, state files)
// over N sales, next to SQLite in WAL mode with synchronous=FULL inserting the
// very same journal records one transaction per record, measured in the same
// run on the same filesystem. Both include their background work (LevelDB
// compaction; SQLite's checkpoint at close).
// Run alone: node_modules/.bin/node bench/write-amplification.ts
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postSale, readJournal, startBox } from '../harness/box.ts';

export interface WriteAmplification {
  sales: number;
  /** Mean size of one journal record (the event JSON), bytes. */
  recordBytes: number;
  tillboxBytesPerSale1: number;
  tillboxBytesPerSale32: number;
  sqliteBytesPerRecord: number;
  /** tillbox at 32 clients / SQLite (target <= 1). */
  ratio32: number;
  ratio1: number;
}

function writeBytes(pid: number): number {
  const m = /write_bytes:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const SALE = {
  lines: [
    { sku: 'MILK-1L', qty: 2 },
    { sku: 'BREAD-WG', qty: 1 },
  ],
  tenders: [{ type: 'cash', amount: 1000 }],
};

async function measureBox(clients: number, perClient: number, dir: string): Promise<{ bytesPerSale: number; records: string[] }> {
  const stateDir = mkdtempSync(join(dir, 'box-'));
  const box = await startBox(stateDir);
  try {
    await sleep(500);
    // Warm-up (JIT, first files) is not counted.
    for (let i = 0; i < 20; i++) await postSale(box.port, `warm-${i}`, SALE);
    await sleep(300);
    const pid = box.child.pid!;
    const before = writeBytes(pid);
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          const r = await postSale(box.port, `c${c}-${i}`, SALE);
          if (r.status !== 201) throw new Error(`sale failed: ${r.status}`);
        }
      }),
    );
    // Let background writes (the next status file, compaction) land.
    await sleep(1500);
    const bytes = writeBytes(pid) - before;
    const records = (await readJournal(box.port)).filter((e) => !e.idempotencyKey.includes('/warm-')).map((e) => JSON.stringify(e));
    return { bytesPerSale: bytes / (clients * perClient), records };
  } finally {
    await box.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** SQLite WAL, synchronous=FULL, one transaction per record, in a child process (its own write_bytes). */
function measureSqlite(records: string[], dir: string): number {
  const db = join(mkdtempSync(join(dir, 'sqlite-')), 'journal.db');
  const input = join(dir, 'records.json');
  writeFileSync(input, JSON.stringify(records));
  const script = `
    const { DatabaseSync } = require('node:sqlite');
    const fs = require('node:fs');
    const records = JSON.parse(fs.readFileSync(${JSON.stringify(input)}, 'utf8'));
    const io = () => Number(/write_bytes:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))[1]);
    const db = new DatabaseSync(${JSON.stringify(db)});
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, idempotency_key TEXT NOT NULL UNIQUE, body TEXT NOT NULL)");
    const ins = db.prepare('INSERT INTO events (seq, id, idempotency_key, body) VALUES (?, ?, ?, ?)');
    const before = io();
    for (const r of records) {
      const e = JSON.parse(r);
      db.exec('BEGIN');
      ins.run(e.seq, e.id, e.idempotencyKey, r);
      db.exec('COMMIT');
    }
    db.close();
    process.stdout.write(String(io() - before));
  `;
  const out = spawnSync(process.execPath, ['--no-warnings', '-e', script], { encoding: 'utf8' });
  rmSync(db, { force: true });
  if (out.status !== 0) throw new Error(`sqlite baseline failed: ${out.stderr}`);
  return Number(out.stdout) / records.length;
}

export async function benchWriteAmplification(opts: { dir?: string; perClient32?: number; sequential?: number } = {}): Promise<WriteAmplification> {
  // A real disk: tmpfs has no storage layer and counts nothing.
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'tillbox-wa-'));
  try {
    const seq = await measureBox(1, opts.sequential ?? 300, dir);
    const conc = await measureBox(32, opts.perClient32 ?? 250, dir);
    const sqlite = measureSqlite(conc.records, dir);
    const recordBytes = conc.records.reduce((n, r) => n + Buffer.byteLength(r), 0) / conc.records.length;
    const round = (n: number) => Math.round(n);
    return {
      sales: conc.records.length,
      recordBytes: round(recordBytes),
      tillboxBytesPerSale1: round(seq.bytesPerSale),
      tillboxBytesPerSale32: round(conc.bytesPerSale),
      sqliteBytesPerRecord: round(sqlite),
      ratio32: Math.round((conc.bytesPerSale / sqlite) * 100) / 100,
      ratio1: Math.round((seq.bytesPerSale / sqlite) * 100) / 100,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchWriteAmplification(), null, 2));
}
