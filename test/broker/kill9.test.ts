import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { connectOk, tempStateDir } from './helpers.ts';

const CHILD = fileURLToPath(new URL('../../harness/broker-child.ts', import.meta.url));
const TOPIC = 'store/S1/pos/sale';

interface Child {
  proc: ChildProcess;
  url: string;
}

function startChild(stateDir: string, sync: 'batch' | 'never'): Promise<Child> {
  // The offline subscriber queues up to 3,000 messages here: lift the per-session bound
  // (mqtt.limits.offlineQueueMax drops the oldest by design; session-bounds.test.ts tests it).
  const limits = { offlineQueueMax: 100_000, offlineQueueMaxBytes: 64 * 1024 * 1024 };
  const proc = spawn(process.execPath, [CHILD, JSON.stringify({ stateDir, sync, limits })], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', (line) => {
      const msg = JSON.parse(line) as { addresses: { tcp: { host: string; port: number } } };
      resolve({ proc, url: `mqtt://${msg.addresses.tcp.host}:${msg.addresses.tcp.port}` });
    });
    proc.once('exit', (code) => reject(new Error(`broker child exited early (${code})`)));
  });
}

function kill9(c: Child): Promise<void> {
  return new Promise((resolve) => {
    c.proc.once('exit', () => resolve());
    c.proc.kill('SIGKILL');
  });
}

/** Publishes `count` numbered QoS 1 messages and SIGKILLs the broker after `killAfter` PUBACKs. */
async function publishUntilKilled(broker: Child, count: number, killAfter: number): Promise<Set<number>> {
  const pub = await connectOk(broker.url, { clientId: 'anonymous-pub', clean: true });
  const acked = new Set<number>();
  let killed: Promise<void> | undefined;
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(64);
    payload.writeUInt32BE(i, 0);
    pub.publish(TOPIC, payload, { qos: 1 }, (err) => {
      if (err) return;
      acked.add(i);
      if (acked.size === killAfter && !killed) killed = kill9(broker);
    });
  }
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (killed || acked.size === count) {
        clearInterval(t);
        resolve();
      }
    }, 5);
  });
  await killed;
  pub.end(true);
  return new Set(acked); // snapshot: nothing can be acked by a dead broker
}

function collect(client: mqtt.MqttClient, into: number[]): void {
  client.on('message', (_t, p) => into.push(p.readUInt32BE(0)));
}

/** Waits until every acked message number has been received (or fails, listing the missing ones). */
function waitForAcked(acked: Set<number>, got: number[]): Promise<void> {
  return waitFor(
    () => [...acked].every((n) => got.includes(n)),
    'every acked message',
    30_000,
    () => {
      const miss = [...acked].filter((n) => !got.includes(n));
      return `acked ${acked.size}, got ${got.length}, missing ${miss.length}: ${miss.slice(0, 10).join(',')}... max got ${Math.max(...got)}`;
    },
  );
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000, detail?: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('broker kill -9 and restart', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  for (const sync of ['never', 'batch'] as const) {
    it(`keeps every PUBACKed QoS 1 message for an offline persistent subscriber across SIGKILL (sync: ${sync})`, async () => {
      const stateDir = tempStateDir();
      cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
      let broker = await startChild(stateDir, sync);
      cleanup.push(() => {
        broker.proc.kill('SIGKILL');
      });

      const sub = await connectOk(broker.url, { clientId: 'anonymous-sub', clean: false });
      await sub.subscribeAsync(TOPIC, { qos: 1 });
      await sub.endAsync();

      const acked = await publishUntilKilled(broker, 3000, 1000);
      expect(acked.size).toBeGreaterThanOrEqual(1000);

      broker = await startChild(stateDir, sync);
      const got: number[] = [];
      const sub2 = mqtt.connect(broker.url, { clientId: 'anonymous-sub', clean: false, reconnectPeriod: 0, protocolVersion: 4 });
      collect(sub2, got);
      cleanup.push(() => {
        sub2.end(true);
      });
      await waitForAcked(acked, got);
      const missing = [...acked].filter((n) => !got.includes(n));
      expect(missing).toEqual([]);
      const unique = [...new Set(got)];
      expect(unique).toEqual([...unique].sort((a, b) => a - b));
    }, 90_000);
  }

  it('redelivers QoS 1 messages that were in flight to an online persistent subscriber when the broker is SIGKILLed', async () => {
    const stateDir = tempStateDir();
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
    let broker = await startChild(stateDir, 'never');
    cleanup.push(() => {
      broker.proc.kill('SIGKILL');
    });

    const got: number[] = [];
    const sub = await connectOk(broker.url, { clientId: 'anonymous-sub', clean: false });
    collect(sub, got);
    await sub.subscribeAsync(TOPIC, { qos: 1 });
    const acked = await publishUntilKilled(broker, 3000, 1500);
    sub.end(true);

    broker = await startChild(stateDir, 'never');
    const sub2 = mqtt.connect(broker.url, { clientId: 'anonymous-sub', clean: false, reconnectPeriod: 0, protocolVersion: 4 });
    collect(sub2, got);
    cleanup.push(() => {
      sub2.end(true);
    });
    await waitForAcked(acked, got);
    expect([...acked].filter((n) => !got.includes(n))).toEqual([]);
  }, 90_000);
});
