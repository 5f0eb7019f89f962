import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateSecrets, newSecret } from '../appliance/secrets/secrets.ts';
import { SimPrinter } from '../drivers/sim/printer.ts';
import { call, postSale, startBox, type BoxProcess } from '../harness/box.ts';
import { roleClient, startDevicesProcess, startFlowsProcess, SALE, until, type CoreBox } from '../harness/flows.ts';
import { startMosquitto } from '../harness/mosquitto.ts';
import { freePort } from '../harness/ports.ts';
import { startRealHq } from '../harness/real-hq.ts';
import { descendants } from './proc.ts';
import { percentile } from './stats.ts';

const PROBE = join(import.meta.dirname, '../lib/bench-probe.ts');

// A store at load (issue 14): the whole box as real processes — core with
// cloud sync on, the devices process driving printer-1 (the ESC/POS simulator
// over TCP), the flows process with the demo store's kitchen flow — while
// 20 tills, each with its own API token, sell once a second over HTTP.
//
// A 100,000-event backlog is built offline first (the cloud link is a gate
// that refuses connections), the tills start, and then the gate opens: the
// box drains the backlog through Mosquitto 2 to the reference HQ (on
// PostgreSQL by default, see StoreLoadOptions.db) while the
// tills keep selling, with health at its default interval. Figures:
// - sale: the till's POST /api/v1/sales round trip (fsync'd before 201);
// - sale → ticket: from the POST to the kitchen ticket with that order
//   number cut at the printer (journal → pos/sale → Node-RED kitchen routing
//   → cmd/print → devices print queue → ESC/POS → simulator).
// The same tills then keep selling for as long again with nothing to drain:
// that quiet phase, in the same run, is the baseline the drain phase is judged
// against. Each sale sells BREAD-WG (a deli item the demo flow routes to
// printer-1), so every sale should print exactly one ticket.
//
// The gate is a byte pipe in this process (TCP_NODELAY on both legs); it
// exists so that HQ is subscribed before the box's first batch and the drain
// starts at a known moment with the tills already selling.

export interface StoreLoadOptions {
  tills?: number;
  backlog?: number;
  /** Seconds of the quiet phase (default: as long as the drain took, at least 10). */
  quietSeconds?: number;
  /**
   * HQ's database. Default PostgreSQL (fsync off, as in the tests): in a store HQ
   * is elsewhere, and a PGlite HQ on this machine's disk makes the box's own
   * fsyncs (print queue, journal) wait behind its writes — measured: ticket p50
   * while draining 1.6 s on PGlite against 35 ms on PostgreSQL, same run length.
   */
  db?: 'pglite' | 'postgres';
  /**
   * Nice value for the cloud side (Mosquitto, PostgreSQL, HQ) on this machine.
   * In a store they run elsewhere; here they take ~1.5 of the 2 cores while
   * the backlog drains. Niced, they use what the box leaves, as if remote.
   */
  cloudNice?: number;
  log?: (msg: string) => void;
}

export interface Phase {
  seconds: number;
  sales: number;
  failures: number;
  saleP50Ms: number;
  saleP99Ms: number;
  saleMaxMs: number;
  tickets: number;
  ticketP50Ms: number;
  ticketP99Ms: number;
  ticketMaxMs: number;
  /**
   * Where sale → ticket goes, p50 / p99 ms per hop, seen by an admin client on
   * the local broker: POST → pos/sale published by core, → cmd/print from
   * flows, → the devices process's reply (job durably queued), → ticket cut.
   */
  hops: Record<'saleToPos' | 'posToCmd' | 'cmdToReply' | 'replyToTicket', [number, number]>;
  /**
   * Per process (lib/bench-probe.ts, one histogram a second): event-loop delay
   * p99 of the median and of the worst second, the longest single delay, and
   * the fsyncs issued through Node's fs in the phase (LevelDB's are native and
   * not counted: the journal's and the broker store's).
   */
  eventLoop: Record<'core' | 'devices' | 'flows', { p99MedianMs: number; p99WorstMs: number; maxMs: number; nodeFsyncs: number }>;
}

export interface StoreLoadBench {
  tills: number;
  backlog: number;
  hq: string;
  drainSeconds: number;
  drainEventsPerSec: number;
  /** While the backlog drains (from the gate opening until HQ acked the backlog). */
  draining: Phase;
  /** The same tills, nothing to drain. */
  quiet: Phase;
  /** Peak RSS of core seen during the phases (MB). */
  corePeakRssMB: number;
  /** Tickets printed that no sale of the phases asked for (should be 0). */
  strayTickets: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

function rssMB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

interface ProbeLine {
  at: number;
  p50: number;
  p99: number;
  max: number;
  fsyncs: number;
}

/** The lib/bench-probe.ts lines in a process's output. */
function probeLines(output: string): ProbeLine[] {
  const lines: ProbeLine[] = [];
  for (const m of output.matchAll(/^TILLBOX_PROBE (\{.*\})$/gm)) {
    try {
      lines.push(JSON.parse(m[1]!) as ProbeLine);
    } catch {
      // interleaved with another write: skip the second
    }
  }
  return lines;
}

/** A TCP pipe to `target` that refuses connections until opened. */
async function startGate(target: number): Promise<{ url: string; open(): Promise<void>; close(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    open: () =>
      new Promise((resolve, reject) => {
        server = createServer((inbound) => {
          const outbound = createConnection({ host: '127.0.0.1', port: target });
          for (const s of [inbound, outbound]) {
            s.setNoDelay(true);
            sockets.add(s);
            s.once('close', () => sockets.delete(s));
            s.on('error', () => {
              inbound.destroy();
              outbound.destroy();
            });
          }
          inbound.pipe(outbound);
          outbound.pipe(inbound);
        });
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server) await new Promise<void>((r) => server!.close(() => r()));
    },
  };
}

interface Sold {
  till: number;
  t0: number;
  ms: number;
  seq: number;
  phase: 'pre' | 'draining' | 'quiet' | 'post';
}

export async function benchStoreLoad(opts: StoreLoadOptions = {}): Promise<StoreLoadBench> {
  const tills = opts.tills ?? 20;
  const backlog = opts.backlog ?? 100_000;
  const say = opts.log ?? ((m: string) => console.error(m));
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-bench-store-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    // Every till has its own API token (the box's secrets file, written before first start).
    const secrets = generateSecrets();
    const tillTokens: string[] = [];
    secrets.api = secrets.api.filter((t) => t.role !== 'till');
    for (let i = 1; i <= tills; i++) {
      const token = newSecret();
      tillTokens.push(token);
      secrets.api.push({ name: `till-${i}`, token, role: 'till' });
    }
    writeFileSync(join(dir, 'secrets.json'), JSON.stringify(secrets, null, 2), { mode: 0o600 });

    const mosq = await startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
    cleanups.unshift(() => mosq.cleanup());
    const db = opts.db ?? 'postgres';
    const hq = await startRealHq(mosq.url, db);
    cleanups.unshift(() => hq.stop());
    const gate = await startGate(mosq.port);
    cleanups.unshift(() => gate.close());
    // Only the cloud side is running under this process yet (PostgreSQL's later backends inherit from its postmaster).
    if (opts.cloudNice) for (const pid of descendants(process.pid)) setPriority(pid, opts.cloudNice);

    // Event-loop delay and fsync counts from inside core, devices and flows
    // (restored once they run: the benches after this one spawn Node too).
    const nodeOptions = process.env.NODE_OPTIONS;
    const restoreNodeOptions = () => (nodeOptions === undefined ? delete process.env.NODE_OPTIONS : (process.env.NODE_OPTIONS = nodeOptions));
    cleanups.unshift(async () => restoreNodeOptions());
    process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --import ${PROBE}`.trim();
    const box: BoxProcess = await startBox(dir, { TILLBOX_CLOUD_URL: gate.url, TILLBOX_CLOUD_BACKOFF_MAX_MS: '1000' });
    cleanups.unshift(() => box.stop());
    const core: CoreBox = {
      box,
      storeId: '',
      mqttPort: 0,
      httpPort: box.port,
      stateDir: dir,
      account: (role) => {
        const a = (JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')).mqtt as Array<{ role: string; username: string; password: string }>).find((x) => x.role === role)!;
        return { username: a.username, password: a.password };
      },
      secrets: () => JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')),
      stop: () => box.stop(),
    };
    const rt = await until(() => {
      try {
        return JSON.parse(readFileSync(join(dir, 'runtime.json'), 'utf8')) as { storeId: string; mqtt: { tcp: { port: number } } };
      } catch {
        return undefined;
      }
    }, 'runtime.json');
    core.storeId = rt.storeId;
    core.mqttPort = rt.mqtt.tcp.port;

    say(`store load: building a backlog of ${backlog} sales offline ...`);
    const produce = ['BANANA', 'APPLE-GALA', 'TOMATO'];
    let k = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (k < backlog) {
          const i = k++;
          const r = await postSale(box.port, `backlog-${i}`, { lines: [{ sku: produce[i % 3]!, weightGrams: 200 + (i % 900) }], tenders: [{ type: 'cash', amount: 100_000 }] });
          if (r.status !== 201) throw new Error(`backlog sale failed: ${r.status} ${r.body}`);
        }
      }),
    );
    const backlogSeq = (await call(box.port, 'GET', '/api/v1/sync/status')).json<{ lastSeq: number }>().lastSeq;

    say('store load: devices (printer-1 on the ESC/POS simulator) and flows ...');
    const printer = await new SimPrinter({ port: 0, keep: 100 }).start();
    cleanups.unshift(() => printer.stop());
    const printedAt = new Map<number, number>();
    let strayTickets = 0;
    printer.on('receipt', (r) => {
      const t = performance.now();
      if (!r.complete) return;
      const m = /#(\d+)(?!\d)/.exec(printer.renderText(r));
      if (m) printedAt.set(Number(m[1]), t);
      else strayTickets++;
    });
    const devices = await startDevicesProcess(core, { 'printer-1': printer.port });
    cleanups.unshift(() => devices.stop());
    const flows = await startFlowsProcess(core);
    cleanups.unshift(() => flows.stop());
    restoreNodeOptions();
    // Hop timestamps (a QoS 0 admin subscriber sees each message as the broker routes it).
    const seen = new Map<number, { pos?: number; cmd?: number; reply?: number }>();
    const bySeq = (seq: number) => seen.get(seq) ?? seen.set(seq, {}).get(seq)!;
    const correlations = new Map<string, number>();
    const watcher = await roleClient(core, 'admin');
    cleanups.unshift(() => watcher.endAsync(true));
    watcher.on('message', (topic, payload) => {
      const t = performance.now();
      try {
        const m = JSON.parse(payload.toString()) as { seq?: number; correlation?: string; args?: { ticket?: { order?: string } } };
        if (/\/pos\/sale$/.test(topic) && typeof m.seq === 'number') bySeq(m.seq).pos ??= t;
        else if (/\/cmd\/print$/.test(topic) && m.correlation && m.args?.ticket?.order) {
          const seq = Number(m.args.ticket.order.replace('#', ''));
          correlations.set(m.correlation, seq);
          bySeq(seq).cmd ??= t;
        } else if (/\/cmd\/print\/reply$/.test(topic) && m.correlation && correlations.has(m.correlation)) bySeq(correlations.get(m.correlation)!).reply ??= t;
      } catch {
        // not JSON: not ours
      }
    });
    await watcher.subscribeAsync(`store/${core.storeId}/#`, { qos: 0 });
    const warm = await postSale(box.port, `warm-${Date.now()}`, SALE([{ sku: 'BREAD-WG', qty: 1 }]));
    const warmSeq = warm.json<{ seq: number }>().seq;
    await until(() => printedAt.has(warmSeq) || undefined, `warm-up ticket #${warmSeq}`, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- devices:\n${devices.output()}\n--- flows:\n${flows.output()}`);
    });

    // Tills: each sells once a second, phases offset so they do not fire together.
    const sold: Sold[] = [];
    let failures = 0;
    let phase: Sold['phase'] = 'pre';
    const failuresBy = { pre: 0, draining: 0, quiet: 0, post: 0 };
    let selling = true;
    const tillLoops = tillTokens.map(async (token, till) => {
      await sleep((1000 * till) / tills);
      let next = performance.now();
      for (let n = 0; selling; n++) {
        const p = phase;
        const t0 = performance.now();
        const r = await postSale(box.port, `till-${till}-${n}`, SALE([{ sku: 'BREAD-WG', qty: 1 }]), { authorization: `Bearer ${token}` });
        const ms = performance.now() - t0;
        if (r.status === 201) sold.push({ till, t0, ms, seq: r.json<{ seq: number }>().seq, phase: p });
        else {
          failures++;
          failuresBy[p]++;
        }
        next += 1000;
        await sleep(Math.max(0, next - performance.now()));
      }
    });
    let corePeak = 0;
    const rssTimer = setInterval(() => (corePeak = Math.max(corePeak, rssMB(box.child.pid!))), 250);
    cleanups.unshift(async () => clearInterval(rssTimer));

    await sleep(3000);
    say('store load: opening the cloud link; draining while the tills sell ...');
    phase = 'draining';
    const tOpen = performance.now();
    const tOpenWall = Date.now();
    await gate.open();
    let lastReport = tOpen;
    for (;;) {
      const st = (await call(box.port, 'GET', '/api/v1/sync/status')).json<{ lastAckedSeq: number; connected: boolean }>();
      if (st.lastAckedSeq >= backlogSeq) break;
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        say(`store load: ${st.lastAckedSeq}/${backlogSeq} acked after ${((lastReport - tOpen) / 1000).toFixed(0)} s`);
      }
      if (performance.now() - tOpen > 600_000) throw new Error(`backlog not drained in 600 s (${st.lastAckedSeq}/${backlogSeq})`);
      await sleep(50);
    }
    const drainSeconds = (performance.now() - tOpen) / 1000;
    const quietSeconds = opts.quietSeconds ?? Math.max(10, Math.round(drainSeconds));
    say(`store load: drained in ${drainSeconds.toFixed(1)} s; quiet phase ${quietSeconds} s ...`);
    phase = 'quiet';
    const tQuiet = performance.now();
    const tQuietWall = Date.now();
    await sleep(quietSeconds * 1000);
    phase = 'post';
    selling = false;
    await Promise.all(tillLoops);
    // Let the last tickets of the quiet phase print.
    const wanted = sold.filter((s) => s.phase === 'draining' || s.phase === 'quiet');
    await until(() => wanted.every((s) => printedAt.has(s.seq)) || undefined, 'the last tickets', 10_000).catch(() => {});
    clearInterval(rssTimer);
    const tEndWall = Date.now();

    const probes = { core: probeLines(box.output()), devices: probeLines(devices.output()), flows: probeLines(flows.output()) };
    const eventLoop = (from: number, to: number): Phase['eventLoop'] => {
      const one = (lines: ProbeLine[]) => {
        const w = lines.filter((l) => l.at > from && l.at <= to);
        const p99 = w.map((l) => l.p99).sort((a, b) => a - b);
        const before = lines.filter((l) => l.at <= from).at(-1)?.fsyncs ?? 0;
        return { p99MedianMs: round(percentile(p99, 50)), p99WorstMs: round(p99.at(-1) ?? 0), maxMs: round(Math.max(0, ...w.map((l) => l.max))), nodeFsyncs: (w.at(-1)?.fsyncs ?? before) - before };
      };
      return { core: one(probes.core), devices: one(probes.devices), flows: one(probes.flows) };
    };
    const summarise = (p: 'draining' | 'quiet', seconds: number): Phase => {
      const s = sold.filter((x) => x.phase === p);
      const ms = s.map((x) => x.ms);
      const tickets = s.filter((x) => printedAt.has(x.seq)).map((x) => printedAt.get(x.seq)! - x.t0);
      const hop = (f: (x: Sold, h: { pos?: number; cmd?: number; reply?: number }, printed?: number) => number | undefined): [number, number] => {
        const v = s.map((x) => f(x, seen.get(x.seq) ?? {}, printedAt.get(x.seq))).filter((d): d is number => d !== undefined && Number.isFinite(d));
        return [round(percentile(v, 50)), round(percentile(v, 99))];
      };
      return {
        eventLoop: p === 'draining' ? eventLoop(tOpenWall, tQuietWall) : eventLoop(tQuietWall, tEndWall),
        hops: {
          saleToPos: hop((x, h) => (h.pos === undefined ? undefined : h.pos - x.t0)),
          posToCmd: hop((_x, h) => (h.pos === undefined || h.cmd === undefined ? undefined : h.cmd - h.pos)),
          cmdToReply: hop((_x, h) => (h.cmd === undefined || h.reply === undefined ? undefined : h.reply - h.cmd)),
          replyToTicket: hop((_x, h, p) => (h.reply === undefined || p === undefined ? undefined : p - h.reply)),
        },
        seconds: round(seconds),
        sales: s.length,
        failures: failuresBy[p],
        saleP50Ms: round(percentile(ms, 50)),
        saleP99Ms: round(percentile(ms, 99)),
        saleMaxMs: round(Math.max(...ms)),
        tickets: tickets.length,
        ticketP50Ms: round(percentile(tickets, 50)),
        ticketP99Ms: round(percentile(tickets, 99)),
        ticketMaxMs: round(Math.max(...tickets)),
      };
    };
    void failures;
    return {
      tills,
      backlog,
      hq: `reference HQ (tillbox-hq process, ${db === 'pglite' ? 'PGlite' : 'PostgreSQL 15'}) through Mosquitto 2${opts.cloudNice ? `, all at nice ${opts.cloudNice}` : ''}`,
      drainSeconds: round(drainSeconds),
      drainEventsPerSec: Math.round(backlogSeq / drainSeconds),
      draining: summarise('draining', drainSeconds),
      quiet: summarise('quiet', (performance.now() - tQuiet) / 1000),
      corePeakRssMB: Math.round(corePeak),
      strayTickets,
    };
  } finally {
    for (const c of cleanups) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const backlog = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const db = process.argv[3] === 'pglite' ? 'pglite' : 'postgres';
  console.log(JSON.stringify({ storeLoad: await benchStoreLoad({ ...(backlog === undefined ? {} : { backlog }), db }) }, null, 2));
}
