// Broker benchmark: 20,000 × 200-byte QoS 1 messages, one publisher, one
// clean=false QoS 1 subscriber that stays online, persistence on, loopback.
// Both brokers run in their own process and are driven by the same client
// code (test/broker/qos1-load.ts), so the ratio compares brokers, not setups.
// Numbers only; targets (≥ 0.5 × Mosquitto, deliveredRatio 1) are reported by
// the caller, never asserted here.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runQos1Load, type LoadResult } from '../test/broker/qos1-load.ts';

const COUNT = 20_000;
const PAYLOAD = 200;
const MOSQUITTO = '/usr/sbin/mosquitto';
const CHILD = fileURLToPath(new URL('../test/broker/broker-child.ts', import.meta.url));

export interface BrokerBenchResult {
  qos1MsgPerSec: number;
  deliveredRatio: number;
  mosquittoQos1MsgPerSec: number | null;
}

interface BenchLog {
  info(obj: object, msg?: string): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
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

async function benchTillbox(dir: string, sync: 'batch' | 'never'): Promise<LoadResult> {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify({ stateDir: dir, sync })], { stdio: ['ignore', 'pipe', 'inherit'] });
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

export async function benchBroker(opts: { workDir: string; log?: BenchLog; sync?: 'batch' | 'never' }): Promise<BrokerBenchResult> {
  mkdirSync(opts.workDir, { recursive: true });
  const dir = mkdtempSync(join(opts.workDir, 'broker-bench-'));
  try {
    const sync = opts.sync ?? 'batch';
    const ours = await benchTillbox(join(dir, 'tillbox'), sync);
    opts.log?.info({ broker: 'tillbox', sync, ...ours }, 'broker bench');
    mkdirSync(join(dir, 'mosquitto'));
    const mosq = await benchMosquitto(join(dir, 'mosquitto'));
    if (mosq) opts.log?.info({ broker: 'mosquitto', ...mosq }, 'broker bench');
    return {
      qos1MsgPerSec: Math.round(ours.msgPerSec),
      // Delivered while online, exactly once and in order; anything else is < 1.
      deliveredRatio: ours.outOfOrder === 0 && ours.duplicates === 0 ? ours.unique / COUNT : (ours.unique - ours.outOfOrder) / COUNT,
      mosquittoQos1MsgPerSec: mosq ? Math.round(mosq.msgPerSec) : null,
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
}
