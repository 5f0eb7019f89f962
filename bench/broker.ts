// Broker benchmark: 20,000 × 200-byte QoS 1 messages, one publisher, one
// clean=false QoS 1 subscriber that stays online, persistence on, loopback.
// Both brokers run in their own process and are driven by the same client
// code (test/broker/qos1-load.ts), so the ratio compares brokers, not setups.
// Numbers only; targets (≥ 0.5 × Mosquitto, deliveredRatio 1) are reported by
// the caller, never asserted here.
//
// The machine may be shared, so one tillbox/Mosquitto pair can land in
// different load: the bench runs `rounds` pairs (default 3), alternating
// which broker goes first, each on a fresh state directory, and reports each
// broker's median rate. deliveredRatio is the worst round's.
//
// Baseline for the price of persistence: the same aedes, stock, with its
// in-memory persistence (harness/broker-child.ts `stock`), driven the same way
// in the same rounds → stockQos1MsgPerSec (issue 14: tillbox ≥ 0.8× it).
//
// Wall time runs from the first publish to the last message received, for
// every broker; the subscriber is mqtt.js acking each message as it arrives.
// Note that Mosquitto's `persistence true` writes its store only on autosave
// and shutdown (no write or fsync per message), while tillbox stores and, with
// sync 'batch', fsyncs every message before its PUBACK.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '../harness/ports.ts';
import { runQos1Load, type LoadResult } from '../harness/qos1-load.ts';
import { percentile } from './stats.ts';

const COUNT = 20_000;
const PAYLOAD = 200;
const MOSQUITTO = '/usr/sbin/mosquitto';
const CHILD = fileURLToPath(new URL('../harness/broker-child.ts', import.meta.url));

export interface BrokerBenchResult {
  qos1MsgPerSec: number;
  deliveredRatio: number;
  mosquittoQos1MsgPerSec: number | null;
  /** The same aedes without persistence (stock, in memory), median of the rounds. */
  stockQos1MsgPerSec: number;
  /** Delivered ratio of the stock baseline's worst round (for comparison). */
  stockDeliveredRatio: number;
}

interface BenchLog {
  info(obj: object, msg?: string): void;
}

function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

async function benchTillbox(dir: string, sync: 'batch' | 'never' | 'stock'): Promise<LoadResult> {
  const cfg = sync === 'stock' ? { stateDir: dir, stock: true } : { stateDir: dir, sync };
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', (l) => resolve((JSON.parse(l) as { addresses: { tcp: { port: number } } }).addresses.tcp.port));
      proc.once('exit', (c) => reject(new Error(`tillbox broker exited (${c})`)));
    });
    // The bench broker allows anonymous loopback clients with ids anonymous-*.
    return await runQos1Load({ host: '127.0.0.1', port, count: COUNT, payloadBytes: PAYLOAD, subscriberId: 'anonymous-sub', publisherId: 'anonymous-pub', idleTimeoutMs: 10_000 });
  } finally {
    await stop(proc);
  }
}

async function benchMosquitto(dir: string): Promise<LoadResult | null> {
  if (!existsSync(MOSQUITTO)) return null;
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'persistence true',
      `persistence_location ${dir}/`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      // Do not let Mosquitto's default in-flight/queue caps drop messages.
      'max_queued_messages 0',
      '',
    ].join('\n'),
  );
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      try {
        return await runQos1Load({ host: '127.0.0.1', port, count: COUNT, payloadBytes: PAYLOAD, idleTimeoutMs: 10_000 });
      } catch (err) {
        if (i >= 50) throw err; // not listening yet
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await stop(proc);
  }
}

export async function benchBroker(opts: { workDir: string; log?: BenchLog; sync?: 'batch' | 'never'; rounds?: number }): Promise<BrokerBenchResult> {
  mkdirSync(opts.workDir, { recursive: true });
  const dir = mkdtempSync(join(opts.workDir, 'broker-bench-'));
  try {
    const sync = opts.sync ?? 'batch';
    const rounds = Math.max(1, opts.rounds ?? 3);
    const ours: LoadResult[] = [];
    const mosq: LoadResult[] = [];
    const stock: LoadResult[] = [];
    const runOurs = async (r: number): Promise<void> => {
      const res = await benchTillbox(join(dir, `tillbox-${r}`), sync);
      opts.log?.info({ broker: 'tillbox', round: r, sync, ...res }, 'broker bench');
      ours.push(res);
    };
    const runMosq = async (r: number): Promise<void> => {
      mkdirSync(join(dir, `mosquitto-${r}`));
      const res = await benchMosquitto(join(dir, `mosquitto-${r}`));
      if (res) opts.log?.info({ broker: 'mosquitto', round: r, ...res }, 'broker bench');
      if (res) mosq.push(res);
    };
    const runStock = async (r: number): Promise<void> => {
      const res = await benchTillbox(join(dir, `stock-${r}`), 'stock');
      opts.log?.info({ broker: 'aedes stock (memory)', round: r, ...res }, 'broker bench');
      stock.push(res);
    };
    // Rotate which broker goes first, so none always meets the machine's load first.
    const order = [runOurs, runMosq, runStock];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < order.length; i++) await order[(i + r) % order.length]!(r);
    }
    // Delivered while online, exactly once and in order; anything else is < 1.
    const delivered = (o: LoadResult): number => (o.outOfOrder === 0 && o.duplicates === 0 ? o.unique / COUNT : (o.unique - o.outOfOrder) / COUNT);
    return {
      qos1MsgPerSec: Math.round(
        percentile(
          ours.map((o) => o.msgPerSec),
          50,
        ),
      ),
      deliveredRatio: Math.min(...ours.map(delivered)),
      stockQos1MsgPerSec: Math.round(
        percentile(
          stock.map((o) => o.msgPerSec),
          50,
        ),
      ),
      stockDeliveredRatio: Math.min(...stock.map(delivered)),
      mosquittoQos1MsgPerSec:
        mosq.length > 0
          ? Math.round(
              percentile(
                mosq.map((o) => o.msgPerSec),
                50,
              ),
            )
          : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { tmpdir } = await import('node:os');
  const log: BenchLog = { info: (o) => console.error(JSON.stringify(o)) };
  const r = await benchBroker({ workDir: tmpdir(), log });
  console.log(JSON.stringify({ broker: r }, null, 2));
  if (r.mosquittoQos1MsgPerSec) console.log(`ratio vs Mosquitto: ${(r.qos1MsgPerSec / r.mosquittoQos1MsgPerSec).toFixed(2)}`);
  console.log(`ratio vs stock aedes (memory): ${(r.qos1MsgPerSec / r.stockQos1MsgPerSec).toFixed(2)}`);
}
