import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { SyncAck } from '../contract/sync.ts';
import { cloudTopics } from '../contract/topics.ts';
import { validateConfig } from '../appliance/config/load.ts';
import { LevelJournal } from '../appliance/journal/level-journal.ts';
import { silentLogger } from '../appliance/log.ts';
import { createDemoCatalog } from '../appliance/pos/demo-catalog.ts';
import { PosService } from '../appliance/pos/pos-service.ts';
import { CloudBridge } from '../appliance/sync/cloud-bridge.ts';
import type { HealthDocument } from '../contract/health.ts';
import { startMosquitto } from '../harness/mosquitto.ts';
import { startRealHq } from '../harness/real-hq.ts';
import { nodeFlags } from '../appliance/cli/node-flags.ts';
import { backlogSeller, DRAIN_BOX } from './drain-box.ts';
import { percentile } from './stats.ts';

// Sync benchmark (issue 3 §4). A backlog of real POS sales (PosService on a
// LevelJournal, contract-valid payloads) is built offline, then the bridge
// connects and drains it through a real Mosquitto 2 to the reference HQ
// (its own process, PGlite) → drainEventsPerSec. Then a second backlog is
// drained while a new sale is made every 100 ms; a sale's latency is its
// commit on the box → HQ's ack covering its seq, seen on the broker (HQ acks
// only after its DB commit, so this bounds "committed at HQ" from above).
// Idle latency: the same, one sale at a time, no backlog. Targets are
// reported, not asserted.

export interface SyncBenchOptions {
  events?: number;
  /** Size of the second backlog drained while live sales are measured (default 5,000). */
  liveBacklog?: number;
  /** Starts HQ on the broker; returns a stopper. Default: the reference HQ (cloud/) on PGlite. */
  startHq?: (brokerUrl: string) => Promise<{ name: string; pid?: number | undefined; stop(): Promise<void> }>;
  /** The reference HQ's database when startHq is not given (default PGlite). */
  db?: 'pglite' | 'postgres';
  /** Cloud link settings over the defaults (e.g. { maxInFlight: 4 }), to compare tunings. */
  cloud?: { maxInFlight?: number; batchMaxEvents?: number };
  log?: (msg: string) => void;
}

/**
 * Resident set size of a process now (MB), 0 when it is gone: all of it (VmRSS) or
 * its anonymous part (RssAnon). The difference is mostly file pages mapped in:
 * LevelDB maps the journal's table files it reads, so the box's RSS grows by the
 * journal pages a drain reads (clean page cache the kernel may drop), while
 * RssAnon is the memory the process holds itself.
 */
function rssMB(pid: number | undefined, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number {
  if (pid === undefined) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export interface DrainMemory {
  /** This process (journal, POS service, cloud bridge: the box's sync side) before the drain and its peak during it. */
  boxRssBeforeMB: number;
  boxPeakRssMB: number;
  hqRssBeforeMB: number;
  hqPeakRssMB: number;
  /** The same, anonymous memory only (RssAnon: without mapped file pages). */
  boxAnonBeforeMB: number;
  boxPeakAnonMB: number;
  hqAnonBeforeMB: number;
  hqPeakAnonMB: number;
  /** Right after the last ack (the long drain only). */
  boxRssEndMB?: number;
  hqRssEndMB?: number;
  boxAnonEndMB?: number;
  hqAnonEndMB?: number;
}

/** A representative health document (the shape core sends; figures do not matter for the link). */
function sampleHealth(deviceId: string, storeId: string): HealthDocument {
  return {
    v: 1,
    deviceId,
    storeId,
    at: new Date().toISOString(),
    versions: { tillbox: '0.1.0', node: process.versions.node, os: 'Linux', image: null },
    uptimeS: { box: 1000, core: 100 },
    cpu: { cores: 4, load1: 0.5, load5: 0.4, load15: 0.3, tempC: 48.2 },
    memory: { totalMB: 1900, availableMB: 1200, coreRssMB: 120 },
    disk: { freeMB: 20000, totalMB: 29000, wearLevel: 1 },
    network: { iface: 'eth0', address: '10.0.0.5', wifiSignalDbm: null },
    power: { underVoltageNow: false, underVoltageSinceBoot: false, throttledNow: false, throttledSinceBoot: false },
    clock: { synchronised: true },
    broker: { clients: 6, refused: 0 },
    journal: { lastSeq: 1, state: 'open' },
    sync: { enabled: true, connected: true, pending: 20000, oldestPendingAgeS: 30, lastAckAt: null, conflicts: 0, dropped: 0 },
    peripherals: [
      { id: 'printer-1', kind: 'printer', state: 'online', paper: 'ok' },
      { id: 'scanner-1', kind: 'scanner', state: 'online' },
    ],
    certificate: { state: 'enrolled', daysLeft: 20 },
    healthDropped: 0,
    alerts: [],
  };
}

export interface SyncBenchResult {
  events: number;
  drainEventsPerSec: number;
  drainSeconds: number;
  memory: DrainMemory;
  liveP50Ms: number;
  liveP99Ms: number;
  liveSamples: number;
  /** Phase 2 drain rate (backlog + a sale every 100 ms). */
  drainWithLiveEventsPerSec: number;
  /** The same phase with a health document every second on the link. */
  liveWithHealthP50Ms: number;
  liveWithHealthP99Ms: number;
  liveWithHealthSamples: number;
  healthDropped: number;
  idleP99Ms: number;
  idleP50Ms: number;
  hq: string;
  broker: string;
}

export type DrainBenchResult = Pick<SyncBenchResult, 'events' | 'drainEventsPerSec' | 'drainSeconds' | 'memory' | 'hq' | 'broker'> & {
  /** Seconds to sell the backlog (its own process, not part of the drain). */
  buildSeconds: number;
  /** Seconds for the box process to open the journal and rebuild the POS projections (as core at start). */
  boxOpenSeconds: number;
  /** The box process's V8 heap once drained, and after a full GC with its RssAnon then (MB). */
  boxHeap: {
    atEnd?: { heapUsedMB: number; heapTotalMB: number; externalMB: number };
    afterGc?: { heapUsedMB: number; heapTotalMB: number; externalMB: number; anonMB: number };
  };
  /** os.loadavg() at the end of the drain (the machine is shared). */
  loadAverage: number[];
};

export async function benchSync(opts: SyncBenchOptions = {}): Promise<SyncBenchResult> {
  return run(opts);
}

/**
 * The long drain: phase 1 alone, with the box side and its backlog in processes of
 * their own (bench/drain-box.ts). One child sells the backlog into a journal and
 * exits; a second opens it as core does at start (POS projections rebuilt from seq
 * 1) and drains it, with core's V8 flags (bin/node-flags). RSS and RssAnon of that
 * box process and of HQ are sampled every 250 ms: before (box opened, HQ idle), peak
 * during the drain, and at its end.
 */
export async function benchDrain(opts: Omit<SyncBenchOptions, 'liveBacklog' | 'cloud'> = {}): Promise<DrainBenchResult> {
  const total = opts.events ?? 100_000;
  const say = opts.log ?? ((m: string) => console.error(m));
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-bench-drain-'));
  const mosq = await startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
  let hq: Awaited<ReturnType<NonNullable<SyncBenchOptions['startHq']>>> | undefined;
  let box: ChildProcess | undefined;
  try {
    say(`bench drain: building a backlog of ${total} sales offline (own process) ...`);
    const t0 = performance.now();
    const builder = spawn(process.execPath, [...nodeFlags('core'), DRAIN_BOX, 'build', dir, String(total)], { stdio: ['ignore', 'inherit', 'inherit'] });
    const code = await new Promise<number | null>((r) => builder.once('exit', r));
    if (code !== 0) throw new Error(`backlog builder exited with ${code}`);
    const buildSeconds = (performance.now() - t0) / 1000;
    hq = await (opts.startHq ?? ((url: string) => startReferenceHq(url, opts.db ?? 'pglite')))(mosq.url);
    const hqPid = hq.pid;
    // --expose-gc only lets the box report, once drained, what is live after a full collection.
    box = spawn(process.execPath, [...nodeFlags('core'), '--expose-gc', DRAIN_BOX, 'drain', dir, mosq.url], { stdio: ['pipe', 'pipe', 'inherit'] });
    const child = box;
    const lines: string[] = [];
    const waiters: Array<() => void> = [];
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      for (const w of waiters.splice(0)) w();
    });
    const exited = new Promise<never>((_, reject) => child.once('exit', (c) => reject(new Error(`drain box exited with ${c}`))));
    exited.catch(() => {});
    const line = async (prefix: string): Promise<string> => {
      for (;;) {
        const l = lines.find((x) => x.startsWith(prefix));
        if (l) return l;
        await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
      }
    };
    const t1 = performance.now();
    await line('ready');
    const openSeconds = (performance.now() - t1) / 1000;
    const pid = child.pid;
    const memory: DrainMemory = {
      boxRssBeforeMB: rssMB(pid),
      boxPeakRssMB: 0,
      boxRssEndMB: 0,
      hqRssBeforeMB: rssMB(hqPid),
      hqPeakRssMB: 0,
      hqRssEndMB: 0,
      boxAnonBeforeMB: rssMB(pid, 'RssAnon'),
      boxPeakAnonMB: 0,
      boxAnonEndMB: 0,
      hqAnonBeforeMB: rssMB(hqPid, 'RssAnon'),
      hqPeakAnonMB: 0,
      hqAnonEndMB: 0,
    };
    const sample = () => {
      memory.boxPeakRssMB = Math.max(memory.boxPeakRssMB, rssMB(pid));
      memory.hqPeakRssMB = Math.max(memory.hqPeakRssMB, rssMB(hqPid));
      memory.boxPeakAnonMB = Math.max(memory.boxPeakAnonMB, rssMB(pid, 'RssAnon'));
      memory.hqPeakAnonMB = Math.max(memory.hqPeakAnonMB, rssMB(hqPid, 'RssAnon'));
    };
    say(`bench drain: draining ${total} to ${hq.name} through mosquitto ...`);
    const sampler = setInterval(sample, 250);
    const progress = setInterval(
      () => say(`bench drain: box rss ${rssMB(pid).toFixed(0)} MB (anon ${rssMB(pid, 'RssAnon').toFixed(0)}), HQ rss ${rssMB(hqPid).toFixed(0)} MB (anon ${rssMB(hqPid, 'RssAnon').toFixed(0)})`),
      10_000,
    );
    const t2 = performance.now();
    child.stdin!.write('go\n');
    const drained = await line('drained').finally(() => {
      clearInterval(sampler);
      clearInterval(progress);
    });
    const drainSeconds = (performance.now() - t2) / 1000;
    sample();
    memory.boxRssEndMB = rssMB(pid);
    memory.boxAnonEndMB = rssMB(pid, 'RssAnon');
    memory.hqRssEndMB = rssMB(hqPid);
    memory.hqAnonEndMB = rssMB(hqPid, 'RssAnon');
    for (const k of Object.keys(memory) as Array<keyof DrainMemory>) memory[k] = Math.round(memory[k] ?? 0);
    child.stdin!.write('stop\n');
    await new Promise((r) => child.once('exit', r));
    return {
      events: total,
      drainEventsPerSec: Math.round(total / drainSeconds),
      drainSeconds: Math.round(drainSeconds * 100) / 100,
      buildSeconds: Math.round(buildSeconds),
      boxOpenSeconds: Math.round(openSeconds * 100) / 100,
      memory,
      boxHeap: JSON.parse(drained.split(' ').slice(2).join(' ') || '{}') as DrainBenchResult['boxHeap'],
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
      hq: hq.name,
      broker: 'mosquitto 2',
    };
  } finally {
    if (box && box.exitCode === null && box.signalCode === null) box.kill('SIGKILL');
    await hq?.stop();
    await mosq.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(opts: SyncBenchOptions): Promise<SyncBenchResult> {
  const total = opts.events ?? 100_000;
  const say = opts.log ?? ((m: string) => console.error(m));
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-bench-sync-'));
  const log = silentLogger();
  const deviceId = 'bench-box';
  const storeId = 'demo-store';
  // A cloud broker for sync is tuned for small request/response messages:
  // Mosquitto leaves Nagle on by default, so each small ack waits ~40 ms for the
  // peer's delayed ACK (the box and HQ already set TCP_NODELAY on their side).
  const mosq = await startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
  const hq = await (opts.startHq ?? ((url: string) => startReferenceHq(url, opts.db ?? 'pglite')))(mosq.url);
  const journal = new LevelJournal({ dir: join(dir, 'journal'), deviceId, storeId, log });
  await journal.start();
  const pos = new PosService({ journal, catalog: createDemoCatalog(), log, storeId, currency: 'EUR' });
  await pos.start();
  const sell = backlogSeller(pos);

  const watcher = await mqtt.connectAsync(mosq.url, { clientId: 'bench-watcher', protocolVersion: 5 });
  const waiting = new Map<number, { t0: number; done: (ms: number) => void }>();
  watcher.on('message', (_t, payload) => {
    const ack = JSON.parse(payload.toString()) as SyncAck;
    const above = new Set(ack.appliedAbove);
    const t = performance.now();
    for (const [seq, w] of waiting) {
      if (seq <= ack.lastAppliedSeq || above.has(seq)) {
        waiting.delete(seq);
        w.done(t - w.t0);
      }
    }
  });
  await watcher.subscribeAsync(cloudTopics.acks(deviceId), { qos: 1 });
  const timedSale = async (): Promise<number> => {
    const r = await sell();
    const t0 = performance.now();
    return new Promise((resolve) => waiting.set(r.value.seq, { t0, done: resolve }));
  };

  try {
    say(`bench sync: building a backlog of ${total} sales offline ...`);
    for (let done = 0; done < total; ) {
      const n = Math.min(1000, total - done);
      await Promise.all(Array.from({ length: n }, sell));
      done += n;
    }

    const config = validateConfig({ version: 1, cloud: { url: mosq.url, ...opts.cloud } }).cloud;
    const bridge = new CloudBridge({ journal, config, deviceId, storeId, stateDir: dir, log });
    const ackedAtLeast = async (target: number, t0: number) => {
      let lastReport = performance.now();
      for (;;) {
        const st = await bridge.status();
        if (st.lastAckedSeq >= target) return (performance.now() - t0) / 1000;
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          say(`bench sync: ${st.lastAckedSeq}/${target} acked after ${((lastReport - t0) / 1000).toFixed(0)} s (in flight ${st.inFlight}, ack timeouts ${st.lane?.ackTimeouts})`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // Phase 1: the backlog alone.
    say(`bench sync: draining ${total} to ${hq.name} through mosquitto ...`);
    const memory: DrainMemory = {
      boxRssBeforeMB: rssMB(process.pid),
      boxPeakRssMB: 0,
      hqRssBeforeMB: rssMB(hq.pid),
      hqPeakRssMB: 0,
      boxAnonBeforeMB: rssMB(process.pid, 'RssAnon'),
      boxPeakAnonMB: 0,
      hqAnonBeforeMB: rssMB(hq.pid, 'RssAnon'),
      hqPeakAnonMB: 0,
    };
    const sample = () => {
      memory.boxPeakRssMB = Math.max(memory.boxPeakRssMB, rssMB(process.pid));
      memory.hqPeakRssMB = Math.max(memory.hqPeakRssMB, rssMB(hq.pid));
      memory.boxPeakAnonMB = Math.max(memory.boxPeakAnonMB, rssMB(process.pid, 'RssAnon'));
      memory.hqPeakAnonMB = Math.max(memory.hqPeakAnonMB, rssMB(hq.pid, 'RssAnon'));
    };
    const sampler = setInterval(sample, 250);
    const t0 = performance.now();
    await bridge.start();
    const drainSeconds = await ackedAtLeast(total, t0).finally(() => clearInterval(sampler));
    sample();
    for (const k of Object.keys(memory) as Array<keyof DrainMemory>) memory[k] = Math.round(memory[k] ?? 0);

    // Phase 2: a second, smaller backlog built offline, drained while a sale is made every
    // 100 ms; once without and once with a health document every second on the same link
    // (the health lane must not delay the live lane).
    const second = Math.min(total, opts.liveBacklog ?? 20_000);
    await bridge.stop();
    const doc = JSON.parse(JSON.stringify(sampleHealth(deviceId, storeId))) as HealthDocument;
    const livePhase = async (withHealth: boolean): Promise<{ live: number[]; seconds: number; bridge: CloudBridge }> => {
      say(`bench sync: live latency while a ${second}-event backlog drains${withHealth ? ', health every 1 s' : ''} ...`);
      for (let done = 0; done < second; ) {
        const n = Math.min(1000, second - done);
        await Promise.all(Array.from({ length: n }, sell));
        done += n;
      }
      const target = journal.lastSeq;
      const b = new CloudBridge({ journal, config, deviceId, storeId, stateDir: dir, log });
      await b.start();
      // Measure live sales once the link is up: a sale made while it connects waits for the
      // connection, which is not what this phase measures.
      while (!(await b.status()).connected) await new Promise((r) => setTimeout(r, 10));
      const t1 = performance.now();
      const live: number[] = [];
      let draining = true;
      const healthTimer = withHealth ? setInterval(() => b.publishHealth({ ...doc, at: new Date().toISOString() }), 1000) : undefined;
      const drained = (async () => {
        for (;;) {
          if ((await b.status()).lastAckedSeq >= target) return (performance.now() - t1) / 1000;
          await new Promise((r) => setTimeout(r, 20));
        }
      })().finally(() => (draining = false));
      const pendingLive: Promise<unknown>[] = [];
      while (draining) {
        pendingLive.push(timedSale().then((ms) => live.push(ms)));
        await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = await drained;
      await Promise.all(pendingLive);
      clearInterval(healthTimer);
      await b.whenSynced();
      return { live, seconds, bridge: b };
    };
    const plain = await livePhase(false);
    await plain.bridge.stop();
    const withHealth = await livePhase(true);
    const live = plain.live;
    const secondSeconds = plain.seconds;
    const bridge2 = withHealth.bridge;
    const bridgeForIdle = bridge2;
    say('bench sync: idle latency ...');
    const idle: number[] = [];
    for (let i = 0; i < 200; i++) {
      idle.push(await timedSale());
      await new Promise((r) => setTimeout(r, 10));
    }
    await bridgeForIdle.stop();
    return {
      events: total,
      drainEventsPerSec: Math.round(total / drainSeconds),
      drainSeconds: Math.round(drainSeconds * 100) / 100,
      memory,
      liveP50Ms: Math.round(percentile(live, 50) * 10) / 10,
      liveP99Ms: Math.round(percentile(live, 99) * 10) / 10,
      liveSamples: live.length,
      drainWithLiveEventsPerSec: Math.round(second / secondSeconds),
      liveWithHealthP50Ms: Math.round(percentile(withHealth.live, 50) * 10) / 10,
      liveWithHealthP99Ms: Math.round(percentile(withHealth.live, 99) * 10) / 10,
      liveWithHealthSamples: withHealth.live.length,
      healthDropped: withHealth.bridge.healthDropped,
      idleP50Ms: Math.round(percentile(idle, 50) * 10) / 10,
      idleP99Ms: Math.round(percentile(idle, 99) * 10) / 10,
      hq: hq.name,
      broker: 'mosquitto 2',
    };
  } finally {
    await watcher.endAsync(true);
    await pos.stop();
    await journal.stop();
    await hq.stop();
    await mosq.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startReferenceHq(brokerUrl: string, db: 'pglite' | 'postgres'): Promise<{ name: string; pid: number | undefined; stop(): Promise<void> }> {
  const hq = await startRealHq(brokerUrl, db);
  return {
    name: `reference HQ (tillbox-hq process, ${db === 'pglite' ? 'PGlite' : 'PostgreSQL 15'})`,
    get pid() {
      return hq.pid;
    },
    stop: () => hq.stop(),
  };
}

// node bench/sync.ts [events] [liveBacklog] [--postgres] [--drain-only] [--in-flight=N]
if (import.meta.main) {
  const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
  const [events = 100_000, liveBacklog] = process.argv
    .slice(2)
    .filter((a) => !a.startsWith('--'))
    .map(Number);
  const db = flags.has('--postgres') ? 'postgres' : 'pglite';
  const inFlight = [...flags].find((f) => f.startsWith('--in-flight='));
  const cloud = inFlight ? { maxInFlight: Number(inFlight.split('=')[1]) } : {};
  const out = flags.has('--drain-only') ? await benchDrain({ events, db }) : await benchSync({ events, db, cloud, ...(liveBacklog === undefined ? {} : { liveBacklog }) });
  console.log(JSON.stringify(out, null, 2));
}
