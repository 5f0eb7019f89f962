import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { validateConfig } from '../appliance/config/load.ts';
import { LevelJournal } from '../appliance/journal/level-journal.ts';
import { silentLogger } from '../appliance/log.ts';
import { createDemoCatalog } from '../appliance/pos/demo-catalog.ts';
import { PosService } from '../appliance/pos/pos-service.ts';
import { CloudBridge } from '../appliance/sync/cloud-bridge.ts';

// The box side of the long drain (bench/sync.ts benchDrain), in processes of
// its own so that what is measured is the box and not the bench:
//   node bench/drain-box.ts build DIR N   sells N sales into a journal in DIR, then exits;
//   node bench/drain-box.ts drain DIR URL opens that journal as core does at start (the
//                                        POS projections rebuilt from the journal), prints
//                                        `ready`, starts the cloud bridge on the line `go`
//                                        on stdin, prints `drained SEQ` once HQ acked every
//                                        event (with V8's heap then, and after a full GC when
//                                        run with --expose-gc), and stops on the line `stop`.
// Before, the bench built the backlog in its own process and sampled that
// process: its RSS held the sales it had just made and V8's garbage from
// making them (~600 MB at 300,000 sales), not the box's memory while draining.

export const DRAIN_BOX = import.meta.filename;
export const BENCH_DEVICE = 'bench-box';
export const BENCH_STORE = 'demo-store';

async function open(dir: string) {
  const log = silentLogger();
  const journal = new LevelJournal({ dir: join(dir, 'journal'), deviceId: BENCH_DEVICE, storeId: BENCH_STORE, log });
  await journal.start();
  const pos = new PosService({ journal, catalog: createDemoCatalog(), log, storeId: BENCH_STORE, currency: 'EUR' });
  await pos.start();
  return { journal, pos, log };
}

/**
 * The benches' backlog sale: produce by weight (untracked), one or two lines.
 * A synthetic backlog on 8 tracked items would oversell them thousands of
 * times and benchmark HQ's conflict path.
 */
export function backlogSeller(pos: PosService): () => ReturnType<PosService['sell']> {
  const produce = ['BANANA', 'APPLE-GALA', 'TOMATO'];
  let key = 0;
  return () => {
    const k = key++;
    const lines = [
      { sku: produce[k % 3]!, weightGrams: 200 + (k % 900) },
      { sku: produce[(k + 1) % 3]!, weightGrams: 300 + (k % 500) },
    ].slice(0, 1 + (k % 2));
    return pos.sell({ lines, tenders: [{ type: 'cash', amount: 100_000 }] }, `bench-${k}`);
  };
}

async function build(dir: string, total: number): Promise<void> {
  const { journal, pos } = await open(dir);
  const sell = backlogSeller(pos);
  for (let done = 0; done < total; ) {
    const n = Math.min(1000, total - done);
    await Promise.all(Array.from({ length: n }, sell));
    done += n;
    if (done % 100_000 === 0) process.stderr.write(`drain-box: ${done} sales built\n`);
  }
  await pos.stop();
  await journal.stop();
}

async function drain(dir: string, url: string): Promise<void> {
  const { journal, pos, log } = await open(dir);
  const target = journal.lastSeq;
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value as string | undefined;
  process.stdout.write(`ready ${target}\n`);
  if ((await next()) !== 'go') return;
  const config = validateConfig({ version: 1, cloud: { url } }).cloud;
  const bridge = new CloudBridge({ journal, config, deviceId: BENCH_DEVICE, storeId: BENCH_STORE, stateDir: dir, log });
  await bridge.start();
  for (;;) {
    const st = await bridge.status();
    if (st.lastAckedSeq >= target) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  // What V8 holds live at the end (after a full collection when the bench exposes gc):
  // RssAnon that grew during the drain but is not live is garbage V8 had not collected yet.
  const live = () => {
    const m = process.memoryUsage();
    return { heapUsedMB: Math.round(m.heapUsed / 2 ** 20), heapTotalMB: Math.round(m.heapTotal / 2 ** 20), externalMB: Math.round(m.external / 2 ** 20) };
  };
  const atEnd = live();
  (globalThis as { gc?: () => void }).gc?.();
  const afterGc = { ...live(), anonMB: Math.round(Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024) };
  process.stdout.write(`drained ${target} ${JSON.stringify({ atEnd, afterGc })}\n`);
  await next();
  await bridge.stop();
  await pos.stop();
  await journal.stop();
  process.exit(0);
}

if (import.meta.main) {
  const [mode, dir, arg] = process.argv.slice(2);
  if (mode === 'build' && dir && arg) await build(dir, Number(arg));
  else if (mode === 'drain' && dir && arg) await drain(dir, arg);
  else {
    process.stderr.write('usage: node bench/drain-box.ts build DIR N | drain DIR BROKER_URL\n');
    process.exitCode = 2;
  }
}
