import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { benchFsync, benchJournal } from './journal.ts';
import { benchBroker } from './broker.ts';
import { benchCore } from './core.ts';
import { benchSync } from './sync.ts';
import { benchFlows } from './flows.ts';

// `npm run bench`: every figure is measured in this run, next to the baseline
// it is judged against (raw fsync for the journal, Mosquitto for the broker),
// because this machine is shared and absolute numbers drift between runs.
// Results go to bench/results/latest.json; nothing here passes or fails.

const work = mkdtempSync(join(process.env.TILLBOX_BENCH_DIR ?? tmpdir(), 'tillbox-bench-'));
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

try {
  console.error('bench: raw fsync baseline ...');
  const fsync = await benchFsync({ dir: work });
  console.error('bench: journal appends ...');
  const journalRaw = await benchJournal({ dir: work });
  console.error('bench: core over HTTP (ready time, memory, durable sales) ...');
  const core = await benchCore();
  console.error('bench: broker vs mosquitto ...');
  const broker = await benchBroker({ workDir: join(work, 'broker') });
  console.error('bench: sync (100,000 events backlogged, drained to HQ) ...');
  const sync = await benchSync({ log: (m) => console.error(`  ${m}`) });
  console.error('bench: flows (Node-RED) ...');
  const flows = await benchFlows();

  const results = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGB: round(totalmem() / 2 ** 30, 1), node: process.versions.node },
    fsync: { appendsPerSec: Math.round(fsync.appendsPerSec) },
    journal: {
      // Durable sales through the whole core: HTTP, validation, pricing, fsync'd journal, MQTT publish.
      salesPerSec1: core.salesPerSec1,
      salesPerSec32: core.salesPerSec32,
      p50Ms32: core.p50Ms32,
      p99Ms32: core.p99Ms32,
      // The journal alone (no HTTP), for comparison.
      appendsPerSec1: Math.round(journalRaw.appendsPerSec1),
      appendsPerSec32: Math.round(journalRaw.appendsPerSec32),
      appendP99Ms32: round(journalRaw.p99Ms32),
    },
    broker: {
      qos1MsgPerSec: Math.round(broker.qos1MsgPerSec),
      deliveredRatio: broker.deliveredRatio,
      mosquittoQos1MsgPerSec: broker.mosquittoQos1MsgPerSec === null ? null : Math.round(broker.mosquittoQos1MsgPerSec),
    },
    core: { readyMs: core.readyMs, rssIdleMB: core.rssIdleMB, rssAfterMB: core.rssAfterMB },
    sync: {
      drainEventsPerSec: sync.drainEventsPerSec,
      drainSeconds: sync.drainSeconds,
      liveP50Ms: sync.liveP50Ms,
      liveP99Ms: sync.liveP99Ms,
      idleP99Ms: sync.idleP99Ms,
      events: sync.events,
      hq: sync.hq,
      broker: sync.broker,
    },
    flows,
    ratios: {
      salesPerSec32OverFsync: round(core.salesPerSec32 / fsync.appendsPerSec),
      journalAppends32OverFsync: round(journalRaw.appendsPerSec32 / fsync.appendsPerSec),
      brokerOverMosquitto: broker.mosquittoQos1MsgPerSec ? round(broker.qos1MsgPerSec / broker.mosquittoQos1MsgPerSec) : null,
    },
    targets: {
      'salesPerSec32 >= 10 x fsync.appendsPerSec': core.salesPerSec32 >= 10 * fsync.appendsPerSec,
      'qos1MsgPerSec >= 0.5 x mosquitto': broker.mosquittoQos1MsgPerSec ? broker.qos1MsgPerSec >= 0.5 * broker.mosquittoQos1MsgPerSec : null,
      'deliveredRatio == 1': broker.deliveredRatio === 1,
      'readyMs <= 1000': core.readyMs <= 1000,
      'rssAfterMB <= 128': core.rssAfterMB <= 128,
      'sync.drainEventsPerSec >= 5000': sync.drainEventsPerSec >= 5000,
      'sync.liveP99Ms <= 250': sync.liveP99Ms <= 250,
    },
  };

  const out = resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');

  const rows: Array<[string, string | number | boolean | null]> = [
    ['fsync.appendsPerSec (raw 300 B + fsync)', results.fsync.appendsPerSec],
    ['journal.salesPerSec1 (HTTP, durable)', results.journal.salesPerSec1],
    ['journal.salesPerSec32 (HTTP, durable)', results.journal.salesPerSec32],
    ['journal.p50Ms32 / p99Ms32', `${results.journal.p50Ms32} / ${results.journal.p99Ms32}`],
    ['journal appends/s 1 / 32 (no HTTP)', `${results.journal.appendsPerSec1} / ${results.journal.appendsPerSec32}`],
    ['broker.qos1MsgPerSec (tillbox)', results.broker.qos1MsgPerSec],
    ['broker.mosquittoQos1MsgPerSec', results.broker.mosquittoQos1MsgPerSec],
    ['broker.deliveredRatio', results.broker.deliveredRatio],
    ['core.readyMs', results.core.readyMs],
    ['core.rssIdleMB / rssAfterMB', `${results.core.rssIdleMB} / ${results.core.rssAfterMB}`],
    ['sync.drainEventsPerSec / drainSeconds', `${results.sync.drainEventsPerSec} / ${results.sync.drainSeconds}`],
    ['sync.liveP50Ms / liveP99Ms / idleP99Ms', `${results.sync.liveP50Ms} / ${results.sync.liveP99Ms} / ${results.sync.idleP99Ms}`],
    ['flows.readyMs / rssMB', `${results.flows.readyMs} / ${results.flows.rssMB}`],
    ['flows.saleToTicketP50Ms / P99Ms', `${results.flows.saleToTicketP50Ms} / ${results.flows.saleToTicketP99Ms}`],
    ['ratio sales32 / fsync (target >= 10)', results.ratios.salesPerSec32OverFsync],
    ['ratio broker / mosquitto (target >= 0.5)', results.ratios.brokerOverMosquitto],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n'));
  console.log(`\nwritten: bench/results/latest.json`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
