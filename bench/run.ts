import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { benchFsync, benchJournal } from './journal.ts';
import { benchBroker } from './broker.ts';
import { benchCore, benchDurabilityPrice } from './core.ts';
import { benchDrain, benchSync } from './sync.ts';
import { benchStoreLoad } from './store-load.ts';
import { benchFlows } from './flows.ts';
import { benchWriteAmplification } from './write-amplification.ts';
import { benchProvisioning } from './provisioning.ts';
import { benchHealth } from './health.ts';
import { benchBox } from './box.ts';

// `npm run bench`: every figure is measured in this run, next to the baseline
// it is judged against (raw fsync and SQLite for the journal, Mosquitto for
// the broker), because this machine is shared and absolute numbers drift
// between runs. Each section runs on its own: one that fails (a loaded
// machine, a missing peer) is recorded as { error } and the rest still run
// and are written. Results go to bench/results/latest.json; nothing here
// passes or fails. `npm run bench -- journal broker` runs only those sections.

const work = mkdtempSync(join(process.env.TILLBOX_BENCH_DIR ?? tmpdir(), 'tillbox-bench-'));
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const only = new Set(process.argv.slice(2));

type Section<T> = T | { error: string };
const failed = (s: unknown): s is { error: string } => typeof s === 'object' && s !== null && 'error' in s;

async function section<T>(name: string, what: string, fn: () => Promise<T>): Promise<Section<T> | undefined> {
  if (only.size > 0 && !only.has(name)) return undefined;
  console.error(`bench: ${what} ...`);
  try {
    return await fn();
  } catch (err) {
    console.error(`bench: ${name} failed: ${(err as Error).message}`);
    return { error: (err as Error).message };
  }
}

try {
  const fsync = await section('journal', 'raw fsync baseline', () => benchFsync({ dir: work }));
  const journalRaw = await section('journal', 'journal appends', () => benchJournal({ dir: work }));
  const core = await section('core', 'core over HTTP (ready time, memory, durable sales)', () => benchCore());
  const durability = await section('durability', 'price of durability (the same core with fsync a no-op, 3 rounds)', () => benchDurabilityPrice());
  const writes = await section('writes', 'bytes written per durable sale vs SQLite WAL', () => benchWriteAmplification({ dir: process.env.TILLBOX_BENCH_DIR ?? tmpdir() }));
  const broker = await section('broker', 'broker vs mosquitto', () => benchBroker({ workDir: join(work, 'broker') }));
  const sync = await section('sync', 'sync (100,000 events backlogged, drained to HQ)', () => benchSync({ log: (m) => console.error(`  ${m}`) }));
  const flows = await section('flows', 'flows (Node-RED)', () => benchFlows());
  // Issue 14: the store at load, and the drain on real PostgreSQL 15 (long drain: TILLBOX_BENCH_DRAIN_EVENTS, default 300,000).
  const storeLoad = await section('storeLoad', 'store load (20 tills, 100,000-event backlog draining, kitchen tickets)', () => benchStoreLoad({ log: (m) => console.error(`  ${m}`) }));
  const storeLoadCloudNiced = await section('storeLoadCloudNiced', 'store load again, the cloud side (Mosquitto, PostgreSQL, HQ) at nice 10 as if remote', () =>
    benchStoreLoad({ cloudNice: 10, log: (m) => console.error(`  ${m}`) }),
  );
  const drainPg = await section('drainPg', 'sync on PostgreSQL 15 (100,000 backlogged, live sales while draining)', () => benchSync({ db: 'postgres', log: (m) => console.error(`  ${m}`) }));
  const drainLong = await section('drainLong', 'long drain on PostgreSQL 15 (peak RSS of box and HQ)', () =>
    benchDrain({ db: 'postgres', events: Number(process.env.TILLBOX_BENCH_DRAIN_EVENTS ?? 300_000), log: (m) => console.error(`  ${m}`) }),
  );
  const health = await section('health', 'health telemetry (sample cost, message size)', () => benchHealth());
  const box = await section('box', 'the whole box idle and at start, compiled and TypeScript (60 s idle windows)', () => benchBox({ log: (m) => console.error(`  ${m}`) }));
  const provisioning = await section('provisioning', 'provisioning (EST enrolment, rotation gap on Mosquitto mTLS)', () => benchProvisioning());

  const ok = <T>(s: Section<T> | undefined): T | undefined => (s === undefined || failed(s) ? undefined : s);
  const f = ok(fsync);
  const c = ok(core);
  const b = ok(broker);
  const results = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGB: round(totalmem() / 2 ** 30, 1), node: process.versions.node },
    fsync: f ? { appendsPerSec: Math.round(f.appendsPerSec) } : fsync,
    journal:
      c && ok(journalRaw)
        ? {
            // Durable sales through the whole core: HTTP, validation, pricing, fsync'd journal, MQTT publish.
            salesPerSec1: c.salesPerSec1,
            salesPerSec32: c.salesPerSec32,
            p50Ms32: c.p50Ms32,
            p99Ms32: c.p99Ms32,
            // The journal alone (no HTTP), for comparison.
            appendsPerSec1: Math.round(ok(journalRaw)!.appendsPerSec1),
            appendsPerSec32: Math.round(ok(journalRaw)!.appendsPerSec32),
            appendP99Ms32: round(ok(journalRaw)!.p99Ms32),
          }
        : (core ?? journalRaw),
    writes,
    durability,
    broker: b
      ? {
          qos1MsgPerSec: Math.round(b.qos1MsgPerSec),
          deliveredRatio: b.deliveredRatio,
          mosquittoQos1MsgPerSec: b.mosquittoQos1MsgPerSec === null ? null : Math.round(b.mosquittoQos1MsgPerSec),
          stockAedesQos1MsgPerSec: b.stockQos1MsgPerSec,
        }
      : broker,
    core: c ? { readyMs: c.readyMs, rssIdleMB: c.rssIdleMB, rssAfterMB: c.rssAfterMB, fsyncsPerSale1: c.fsyncsPerSale1, fsyncsPerSale32: c.fsyncsPerSale32 } : core,
    sync,
    storeLoad,
    storeLoadCloudNiced,
    drainPg,
    drainLong,
    flows,
    provisioning,
    health,
    box,
    ratios: {
      salesPerSec32OverFsync: c && f ? round(c.salesPerSec32 / f.appendsPerSec) : null,
      // Durable sales over the same core with fsync a no-op (target >= 0.8).
      durableOverNoFsync32: ok(durability)?.ratio ?? null,
      journalAppends32OverFsync: ok(journalRaw) && f ? round(ok(journalRaw)!.appendsPerSec32 / f.appendsPerSec) : null,
      brokerOverMosquitto: b?.mosquittoQos1MsgPerSec ? round(b.qos1MsgPerSec / b.mosquittoQos1MsgPerSec) : null,
      brokerOverStockAedes: b ? round(b.qos1MsgPerSec / b.stockQos1MsgPerSec) : null,
      bytesPerSale32OverSqlite: ok(writes)?.ratio32 ?? null,
      liveP99WithHealthOverWithout: ok(sync) ? round(ok(sync)!.liveWithHealthP99Ms / ok(sync)!.liveP99Ms) : null,
      // Start of the shipped (compiled) box against a bare `node -e 0` in this run (targets: core alone <= 15, box <= 30).
      coreAloneReadyOverBareNode: ok(box) ? round(ok(box)!.compiled.coreAloneReadyMs / ok(box)!.bareNodeMs, 1) : null,
      boxCoreReadyOverBareNode: ok(box) ? round(ok(box)!.compiled.coreReadyMs / ok(box)!.bareNodeMs, 1) : null,
      // Judged on the restart of a box (flows' compile cache warm, as every morning in a store); the first start of a new box beside it.
      boxFlowsReadyOverBareNode: ok(box) ? round(ok(box)!.compiled.flowsReadyMs / ok(box)!.bareNodeMs, 1) : null,
      boxFlowsFirstReadyOverBareNode: ok(box) ? round(ok(box)!.compiled.flowsFirstReadyMs / ok(box)!.bareNodeMs, 1) : null,
    },
  };

  const out = resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  const file = only.size > 0 ? 'partial.json' : 'latest.json';
  writeFileSync(join(out, file), JSON.stringify(results, null, 2) + '\n');

  const show = (v: unknown): string => (v === undefined ? '-' : failed(v) ? `error: ${v.error}` : String(v));
  const j = ok(results.journal as Section<{ salesPerSec1: number; salesPerSec32: number; p50Ms32: number; p99Ms32: number; appendsPerSec1: number; appendsPerSec32: number }>);
  const s = ok(sync);
  const fl = ok(flows);
  const w = ok(writes);
  const bx = ok(box);
  const perProcess = (form: 'compiled' | 'typescript') => (bx ? (['supervisor', 'core', 'devices', 'flows'] as const).map((r) => `${r} ${bx[form].processes[r]?.rssMB ?? '-'}`).join(', ') : show(box));
  const rows: Array<[string, string]> = [
    ['fsync.appendsPerSec (raw 300 B + fsync)', show(f?.appendsPerSec ?? fsync)],
    ['journal.salesPerSec1 / 32 (HTTP, durable)', j ? `${j.salesPerSec1} / ${j.salesPerSec32}` : show(core)],
    ['journal.p50Ms32 / p99Ms32', j ? `${j.p50Ms32} / ${j.p99Ms32}` : '-'],
    ['journal appends/s 1 / 32 (no HTTP)', j ? `${j.appendsPerSec1} / ${j.appendsPerSec32}` : show(journalRaw)],
    ['writes: bytes/sale 1 / 32 clients', w ? `${w.tillboxBytesPerSale1} / ${w.tillboxBytesPerSale32}` : show(writes)],
    ['writes: SQLite WAL FULL bytes/record', w ? String(w.sqliteBytesPerRecord) : '-'],
    ['broker.qos1MsgPerSec tillbox / mosquitto', b ? `${Math.round(b.qos1MsgPerSec)} / ${b.mosquittoQos1MsgPerSec === null ? '-' : Math.round(b.mosquittoQos1MsgPerSec)}` : show(broker)],
    ['broker.deliveredRatio', b ? String(b.deliveredRatio) : '-'],
    ['core.readyMs / rssIdleMB / rssAfterMB', c ? `${c.readyMs} / ${c.rssIdleMB} / ${c.rssAfterMB}` : '-'],
    ['core.fsyncsPerSale 1 / 32 clients (target <= 0.1 at 32)', c ? `${c.fsyncsPerSale1} / ${c.fsyncsPerSale32}` : '-'],
    ['durable / no-fsync sales/s at 32 (target >= 0.8)', ok(durability) ? `${ok(durability)!.salesPerSec32} / ${ok(durability)!.salesPerSec32NoFsync} = ${ok(durability)!.ratio}` : show(durability)],
    ['sync.drainEventsPerSec / drainSeconds', s ? `${s.drainEventsPerSec} / ${s.drainSeconds}` : show(sync)],
    ['sync.liveP50Ms / liveP99Ms / idleP99Ms', s ? `${s.liveP50Ms} / ${s.liveP99Ms} / ${s.idleP99Ms}` : '-'],
    ['sync.live with health 1 s: P50Ms / P99Ms', s ? `${s.liveWithHealthP50Ms} / ${s.liveWithHealthP99Ms} (${s.liveWithHealthSamples} samples)` : '-'],
    ['flows.readyMs / rssMB', fl ? `${fl.readyMs} / ${fl.rssMB}` : show(flows)],
    ['flows.saleToTicketP50Ms / P99Ms', fl ? `${fl.saleToTicketP50Ms} / ${fl.saleToTicketP99Ms}` : '-'],
    ['provisioning.enrolMs / httpsRoundTripMs', ok(provisioning) ? `${ok(provisioning)!.enrolMs} / ${ok(provisioning)!.httpsRoundTripMs}` : show(provisioning)],
    ['provisioning.rotationReconnectGapMs max / median', ok(provisioning) ? `${ok(provisioning)!.rotationReconnectGapMs} / ${ok(provisioning)!.rotationReconnectGapMsMedian}` : '-'],
    ['health.sampleCpuMs / cpuPctAt60s / messageBytes', ok(health) ? `${ok(health)!.sampleCpuMs} / ${ok(health)!.cpuPctAt60s} / ${ok(health)!.messageBytes}` : show(health)],
    ['box RSS MB compiled: per process', perProcess('compiled')],
    ['box RSS / PSS MB compiled, typescript (target RSS <= 300)', bx ? `${bx.compiled.boxRssMB} / ${bx.compiled.boxPssMB}, ${bx.typescript.boxRssMB} / ${bx.typescript.boxPssMB}` : '-'],
    ['box idle CPU % of a core (+ demo simulators) (target <= 1)', bx ? `${bx.compiled.boxCpuPct} (${bx.compiled.boxCpuPctWithSimulators})` : '-'],
    ['core RSS MB idle / after sales, compiled (target <= 128)', bx ? `${bx.coreRssIdleMB} / ${bx.coreRssAfterSalesMB}` : '-'],
    [
      'start ms: bare node / core alone / box core / box flows (restart; first start)',
      bx ? `${bx.bareNodeMs} / ${bx.compiled.coreAloneReadyMs} / ${bx.compiled.coreReadyMs} / ${bx.compiled.flowsReadyMs} (${bx.compiled.coreFirstReadyMs} / ${bx.compiled.flowsFirstReadyMs})` : '-',
    ],
    [
      'ratio start / bare node: core alone (<= 15), box core, flows (<= 30) on restart; flows first start',
      bx
        ? `${results.ratios.coreAloneReadyOverBareNode} / ${results.ratios.boxCoreReadyOverBareNode} / ${results.ratios.boxFlowsReadyOverBareNode}; ${results.ratios.boxFlowsFirstReadyOverBareNode}`
        : '-',
    ],
    ['ratio sales32 / fsync', show(results.ratios.salesPerSec32OverFsync)],
    ['ratio broker / mosquitto (target >= 0.5)', show(results.ratios.brokerOverMosquitto)],
    ['ratio broker / stock aedes in memory (target >= 0.8)', show(results.ratios.brokerOverStockAedes)],
    [
      'storeLoad sale p50/p99 draining | quiet (target p99 <= 10)',
      ok(storeLoad) ? `${ok(storeLoad)!.draining.saleP50Ms} / ${ok(storeLoad)!.draining.saleP99Ms} | ${ok(storeLoad)!.quiet.saleP50Ms} / ${ok(storeLoad)!.quiet.saleP99Ms}` : show(storeLoad),
    ],
    [
      'storeLoad sale->ticket p50/p99 draining | quiet (target p99 <= 100)',
      ok(storeLoad) ? `${ok(storeLoad)!.draining.ticketP50Ms} / ${ok(storeLoad)!.draining.ticketP99Ms} | ${ok(storeLoad)!.quiet.ticketP50Ms} / ${ok(storeLoad)!.quiet.ticketP99Ms}` : '-',
    ],
    [
      'storeLoad, cloud side niced: sale p99 | ticket p99 draining',
      ok(storeLoadCloudNiced) ? `${ok(storeLoadCloudNiced)!.draining.saleP99Ms} | ${ok(storeLoadCloudNiced)!.draining.ticketP99Ms}` : show(storeLoadCloudNiced),
    ],
    ['drainPg events/s / live p99 ms (targets >= 10,000 / <= 250)', ok(drainPg) ? `${ok(drainPg)!.drainEventsPerSec} / ${ok(drainPg)!.liveP99Ms}` : show(drainPg)],
    [
      'drainLong events, events/s, peak RSS MB box / HQ',
      ok(drainLong) ? `${ok(drainLong)!.events}, ${ok(drainLong)!.drainEventsPerSec}, ${ok(drainLong)!.memory.boxPeakRssMB} / ${ok(drainLong)!.memory.hqPeakRssMB}` : show(drainLong),
    ],
    [
      'drainLong RssAnon MB before / peak / end: box | HQ',
      ok(drainLong) ? (({ memory: m }) => `${m.boxAnonBeforeMB} / ${m.boxPeakAnonMB} / ${m.boxAnonEndMB} | ${m.hqAnonBeforeMB} / ${m.hqPeakAnonMB} / ${m.hqAnonEndMB}`)(ok(drainLong)!) : '-',
    ],
    ['ratio bytes/sale (32) / SQLite (target <= 1)', show(results.ratios.bytesPerSale32OverSqlite)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
  console.log(`\nwritten: bench/results/${file}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
