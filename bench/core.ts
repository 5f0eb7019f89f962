import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from './stats.ts';
import { CHECKOUT, managerAuth, postSale, startBox, type BoxCode } from '../harness/box.ts';
import { rssMB } from './proc.ts';

// Core benchmarks through the real process: `tillbox start --demo` in a child,
// driven over HTTP on loopback. Durable sales/s here include HTTP, validation,
// pricing, the journal's fsync and the MQTT publish of each event.

export interface CoreBench {
  readyMs: number;
  rssIdleMB: number;
  rssAfterMB: number;
  salesPerSec1: number;
  salesPerSec32: number;
  p50Ms32: number;
  p99Ms32: number;
  /** Journal fsyncs per durable sale at 32 clients (synced batches / events appended in that phase). */
  fsyncsPerSale32: number;
  fsyncsPerSale1: number;
}

async function sellLoop(port: number, prefix: string, count: number, latencies: number[], sale: unknown): Promise<void> {
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const r = await postSale(port, `${prefix}-${i}`, sale);
    if (r.status !== 201) throw new Error(`sale failed: ${r.status} ${r.body}`);
    latencies.push(performance.now() - t);
  }
}

/** `code`: the checkout (default) or a compiled copy (bench/compiled.ts), as the box ships. */
export async function benchCore(opts: { salesSequential?: number; salesPerClient?: number; code?: BoxCode; env?: Record<string, string> } = {}): Promise<CoreBench> {
  const box = await startBox(undefined, opts.env ?? {}, opts.code ?? CHECKOUT);
  try {
    await sleep(500);
    const rssIdleMB = rssMB(box.child.pid!);
    const catalog = (await (await fetch(`http://127.0.0.1:${box.port}/api/v1/catalog`)).json()) as { items: Array<{ sku: string; soldByWeight?: boolean; price: number | { amount: number } }> };
    const item = catalog.items.find((i) => !i.soldByWeight)!;
    const price = typeof item.price === 'number' ? item.price : item.price.amount;
    const sale = { lines: [{ sku: item.sku, qty: 2 }], tenders: [{ type: 'cash', amount: price * 2 }] };

    // Warm up JIT and connections.
    await sellLoop(box.port, 'warm', 50, [], sale);

    const auth = managerAuth(box.stateDir);
    const journalStats = async () => (await (await fetch(`http://127.0.0.1:${box.port}/api/v1/status`, { headers: auth })).json()) as { journal: { batches: number; appends: number } };
    const n1 = opts.salesSequential ?? 300;
    const s0 = await journalStats();
    let t = performance.now();
    await sellLoop(box.port, 'seq', n1, [], sale);
    const salesPerSec1 = n1 / ((performance.now() - t) / 1000);
    const s1 = await journalStats();

    const perClient = opts.salesPerClient ?? 100;
    const latencies: number[] = [];
    t = performance.now();
    await Promise.all(Array.from({ length: 32 }, (_, c) => sellLoop(box.port, `c${c}`, perClient, latencies, sale)));
    const salesPerSec32 = (32 * perClient) / ((performance.now() - t) / 1000);
    const s2 = await journalStats();
    const perSale = (a: typeof s0, b: typeof s0) => Math.round(((b.journal.batches - a.journal.batches) / Math.max(1, b.journal.appends - a.journal.appends)) * 1000) / 1000;
    const rssAfterMB = rssMB(box.child.pid!);
    return {
      readyMs: box.readyMs,
      rssIdleMB,
      rssAfterMB,
      salesPerSec1: Math.round(salesPerSec1),
      salesPerSec32: Math.round(salesPerSec32),
      p50Ms32: round2(percentile(latencies, 50)),
      p99Ms32: round2(percentile(latencies, 99)),
      fsyncsPerSale1: perSale(s0, s1),
      fsyncsPerSale32: perSale(s1, s2),
    };
  } finally {
    await box.stop();
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export interface DurabilityPrice {
  /** Medians over the rounds: durable sales/s at 32 clients, and the same core with every fsync a no-op. */
  salesPerSec32: number;
  salesPerSec32NoFsync: number;
  /** salesPerSec32 / salesPerSec32NoFsync (target >= 0.8: durability costs at most 20 %). */
  ratio: number;
  rounds: number;
}

const EATMYDATA = ['/usr/lib/x86_64-linux-gnu/libeatmydata.so', '/usr/lib/aarch64-linux-gnu/libeatmydata.so'];

/**
 * The price of durability (issue 14): the same core, the same sales, once as
 * it ships and once with fsync, fdatasync and O_SYNC turned into no-ops by
 * libeatmydata (LD_PRELOAD; Debian's eatmydata), rounds alternating so that
 * a drift of the machine hits both. Without fsync the journal's group commit
 * still batches, so this is what the disk's flushes cost and nothing else.
 */
export async function benchDurabilityPrice(opts: { rounds?: number; code?: BoxCode } = {}): Promise<DurabilityPrice> {
  const lib = EATMYDATA.find((p) => existsSync(p));
  if (!lib) throw new Error('libeatmydata is not installed (apt-get install eatmydata)');
  const rounds = opts.rounds ?? 3;
  const durable: number[] = [];
  const noFsync: number[] = [];
  for (let i = 0; i < rounds; i++) {
    durable.push((await benchCore({ code: opts.code, salesSequential: 50 })).salesPerSec32);
    noFsync.push((await benchCore({ code: opts.code, salesSequential: 50, env: { LD_PRELOAD: lib } })).salesPerSec32);
  }
  const salesPerSec32 = Math.round(percentile(durable, 50));
  const salesPerSec32NoFsync = Math.round(percentile(noFsync, 50));
  return { salesPerSec32, salesPerSec32NoFsync, ratio: round2(salesPerSec32 / salesPerSec32NoFsync), rounds };
}

if (import.meta.main) console.log(process.argv[2] === 'durability' ? await benchDurabilityPrice() : await benchCore());
