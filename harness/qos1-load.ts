import mqtt from 'mqtt';

// One publisher, one clean=false QoS 1 subscriber that stays online: the load
// shape of the upstream ordering defect (moscajs/aedes#994) and of the bench.
// Shared by the ordering test, the reproduction script and bench/broker.ts so
// that tillbox's broker and Mosquitto are driven by exactly the same code.

export interface LoadOptions {
  host: string;
  port: number;
  count: number;
  payloadBytes: number;
  topic?: string;
  username?: string;
  password?: string;
  subscriberId?: string;
  publisherId?: string;
  /** Give up waiting for the tail after this long of no progress (default 20 s). */
  idleTimeoutMs?: number;
}

export interface LoadResult {
  published: number;
  acked: number;
  received: number;
  unique: number;
  duplicates: number;
  outOfOrder: number;
  /** Messages the subscriber never saw while online. */
  missing: number;
  elapsedMs: number;
  msgPerSec: number;
}

function connect(url: string, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
  });
}

export async function runQos1Load(o: LoadOptions): Promise<LoadResult> {
  const url = `mqtt://${o.host}:${o.port}`;
  const topic = o.topic ?? 'store/S1/load/qos1';
  const auth = o.username === undefined ? {} : { username: o.username, password: o.password ?? '' };
  const sub = await connect(url, { ...auth, clientId: o.subscriberId ?? 'load-sub', clean: false, protocolVersion: 4 });
  const pub = await connect(url, { ...auth, clientId: o.publisherId ?? 'load-pub', clean: true, protocolVersion: 4 });
  try {
    await sub.subscribeAsync(topic, { qos: 1 });
    const seen = new Uint8Array(o.count);
    let received = 0;
    let unique = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let last = -1;
    let lastProgress = Date.now();
    let resolveAll: () => void = () => {};
    const all = new Promise<void>((r) => {
      resolveAll = r;
    });
    sub.on('message', (_t, payload) => {
      const n = payload.readUInt32BE(0);
      received++;
      lastProgress = Date.now();
      if (n < o.count && seen[n]) {
        duplicates++;
        return;
      }
      if (n < o.count) seen[n] = 1;
      unique++;
      if (n !== last + 1) outOfOrder++;
      last = n;
      if (unique === o.count) resolveAll();
    });

    const base = Buffer.alloc(o.payloadBytes, 0x61);
    const started = performance.now();
    let acked = 0;
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < o.count; i++) {
      const p = Buffer.from(base);
      p.writeUInt32BE(i, 0);
      acks.push(
        pub.publishAsync(topic, p, { qos: 1 }).then(() => {
          acked++;
        }),
      );
    }
    await Promise.all(acks);
    const idle = o.idleTimeoutMs ?? 20_000;
    await Promise.race([
      all,
      new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (unique === o.count || Date.now() - lastProgress > idle) {
            clearInterval(t);
            resolve();
          }
        }, 100);
        all.then(
          () => {
            clearInterval(t);
            resolve();
          },
          () => {},
        );
      }),
    ]);
    const elapsedMs = performance.now() - started;
    return {
      published: o.count,
      acked,
      received,
      unique,
      duplicates,
      outOfOrder,
      missing: o.count - unique,
      elapsedMs,
      msgPerSec: (unique / elapsedMs) * 1000,
    };
  } finally {
    await Promise.all([sub.endAsync(true), pub.endAsync(true)]);
  }
}
