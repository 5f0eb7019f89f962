import { createHash } from 'node:crypto';
import { Level } from 'level';
import mqtt, { type MqttClient } from 'mqtt';
import { reconnectWithBackoff } from '../../lib/mqtt-reconnect.ts';
import { topicMatches } from '../../contract/topics.ts';
import type { Logger } from '../log.ts';
import type { SyncStateStore } from './sync-state.ts';

// Mapped topics, in the spirit of Mosquitto's bridge `topic` lines: a rule
// forwards local topics matching `local` to the cloud under `remote` (out),
// cloud topics under `remote` + `local` back to the local broker with the
// prefix removed (in), or both.
//
// QoS 1 traffic going out passes through a bounded persistent queue (LevelDB
// in <stateDir>/sync/mapped), forwarded in order while online and deleted on
// PUBACK. When the queue is full the oldest message is dropped, and QoS 0
// traffic that arrives while offline is dropped; every drop is counted in the
// loss ledger (sync state) and reported upstream as a LossReport on reconnect.
// Mapped topics are telemetry-style lanes; POS events never go through here.
//
// Durability: a QoS 1 message is acknowledged to the local broker only after
// it is in the queue with an fsync (handleMessage below), and the local
// session is persistent, so what was published while the bridge was away is
// kept by the broker. After a failed queue write the LevelDB is reopened
// before the next one (never written on top of a torn log, see
// appliance/journal/level-journal.ts) and the message is counted as dropped.

export interface MappedRule {
  direction: 'out' | 'in' | 'both';
  /** Local topic filter, e.g. `store/+/flows/#`; `{storeId}` is substituted. */
  local: string;
  /** Remote prefix, e.g. `tillbox/v1/{deviceId}/mapped/`; `{deviceId}` is substituted. */
  remote: string;
  qos: 0 | 1;
}

export interface MappedContext {
  rules: readonly MappedRule[];
  deviceId: string;
  storeId: string;
  /** Local broker URL and the core account (core may publish and subscribe store/{storeId}/#). */
  local: { url: string; username: string; password: string };
  queueDir: string;
  queueMax: number;
  state: SyncStateStore;
  log: Logger;
  now: () => number;
  publishRemote: (topic: string, payload: Buffer, qos: 0 | 1) => Promise<void>;
  isOnline: () => boolean;
}

interface Resolved {
  name: string;
  direction: MappedRule['direction'];
  local: string;
  remote: string;
  qos: 0 | 1;
}

interface Queued {
  topic: string;
  payload: string;
  rule: string;
}

const KEY_DIGITS = 16;
const key = (n: number) => String(n).padStart(KEY_DIGITS, '0');

export class MappedTopics {
  readonly #ctx: MappedContext;
  readonly #rules: Resolved[];
  #db: Level<string, string> | undefined;
  #client: MqttClient | undefined;
  #stopReconnect: (() => void) | undefined;
  #head = 0;
  #tail = 0;
  #forwarding = false;
  #again = false;
  /** Messages we just published locally from the cloud: not echoed back out by a `both` rule. */
  readonly #echo = new Map<string, number>();
  #forwarded = 0;
  #received = 0;

  constructor(ctx: MappedContext) {
    this.#ctx = ctx;
    this.#rules = ctx.rules.map((r) => ({
      name: `${r.direction}:${r.local}`,
      direction: r.direction,
      local: r.local.replaceAll('{storeId}', ctx.storeId),
      remote: r.remote.replaceAll('{deviceId}', ctx.deviceId),
      qos: r.qos,
    }));
  }

  /** Cloud filters the bridge must subscribe for `in` rules. */
  remoteSubscriptions(): string[] {
    return this.#rules.filter((r) => r.direction !== 'out').map((r) => r.remote + r.local);
  }

  get queued(): number {
    return this.#tail - this.#head;
  }

  status() {
    return { rules: this.#rules.length, queued: this.queued, queueMax: this.#ctx.queueMax, forwarded: this.#forwarded, received: this.#received };
  }

  async start(): Promise<void> {
    const db = new Level<string, string>(this.#ctx.queueDir, { valueEncoding: 'utf8' });
    await db.open();
    this.#db = db;
    for await (const k of db.keys({ limit: 1 })) this.#head = Number(k);
    for await (const k of db.keys({ reverse: true, limit: 1 })) this.#tail = Number(k) + 1;
    if (this.#tail === 0) this.#head = 0;
    const outs = this.#rules.filter((r) => r.direction !== 'in');
    const { url, username, password } = this.#ctx.local;
    const client = mqtt.connect(url, { clientId: `${username}-cloud-bridge`, username, password, protocolVersion: 4, clean: false, reconnectPeriod: 0 });
    this.#client = client;
    this.#stopReconnect = reconnectWithBackoff(client);
    // PUBACK to the local broker only once the message is queued on disk.
    client.handleMessage = (packet, callback) => {
      this.#onLocal(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), packet.qos).then(
        () => callback(),
        () => callback(),
      );
    };
    client.on('connect', () => {
      if (outs.length > 0)
        client.subscribe(
          outs.map((r) => r.local),
          { qos: 1 },
          (err) => err && this.#ctx.log.error({ err }, 'mapped: local subscribe failed'),
        );
    });
    client.on('error', (err) => this.#ctx.log.warn({ err: err.message }, 'mapped: local broker connection error'));
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#stopReconnect?.();
    if (client) await client.endAsync(true);
    const db = this.#db;
    this.#db = undefined;
    while (this.#forwarding) await new Promise((r) => setTimeout(r, 10));
    await db?.close();
  }

  onOnline(): void {
    this.#forward();
  }

  /** A cloud message on a mapped topic: republish locally without the prefix. */
  handleRemote(topic: string, payload: Buffer): boolean {
    for (const r of this.#rules) {
      if (r.direction === 'out' || !topic.startsWith(r.remote)) continue;
      const local = topic.slice(r.remote.length);
      if (!topicMatches(r.local, local)) continue;
      this.#received += 1;
      this.#remember(local, payload);
      this.#client?.publish(local, payload, { qos: r.qos }, (err) => err && this.#ctx.log.warn({ err: err.message, topic: local }, 'mapped: local publish failed'));
      return true;
    }
    return false;
  }

  #fingerprint(topic: string, payload: Buffer): string {
    return createHash('sha1').update(topic).update('\0').update(payload).digest('base64');
  }

  #remember(topic: string, payload: Buffer): void {
    const f = this.#fingerprint(topic, payload);
    this.#echo.set(f, (this.#echo.get(f) ?? 0) + 1);
    if (this.#echo.size > 10_000) this.#echo.clear();
  }

  async #onLocal(topic: string, payload: Buffer, qos: number): Promise<void> {
    if (this.#echo.size > 0) {
      const f = this.#fingerprint(topic, payload);
      const n = this.#echo.get(f);
      if (n !== undefined) {
        if (n <= 1) this.#echo.delete(f);
        else this.#echo.set(f, n - 1);
        return;
      }
    }
    for (const r of this.#rules) {
      if (r.direction === 'in' || !topicMatches(r.local, topic)) continue;
      const remote = r.remote + topic;
      const effective: 0 | 1 = r.qos === 1 && qos >= 1 ? 1 : r.qos;
      if (effective === 1) {
        await this.#enqueue({ topic: remote, payload: payload.toString('base64'), rule: r.name });
      } else if (this.#ctx.isOnline()) {
        this.#ctx.publishRemote(remote, payload, 0).catch(() => this.#drop('mapped-qos0', r.name, 1));
      } else {
        this.#drop('mapped-qos0', r.name, 1);
      }
      return;
    }
  }

  #drop(lane: string, rule: string, n: number): void {
    this.#ctx.state.recordLoss(lane, rule, n, new Date(this.#ctx.now()).toISOString());
    void this.#ctx.state.save();
  }

  async #enqueue(item: Queued): Promise<void> {
    const db = this.#db;
    if (!db) return;
    const n = this.#tail++;
    const ops: Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }> = [{ type: 'put', key: key(n), value: JSON.stringify(item) }];
    const dropped: string[] = [];
    while (this.#tail - this.#head > this.#ctx.queueMax) {
      ops.push({ type: 'del', key: key(this.#head) });
      dropped.push(key(this.#head));
      this.#head += 1;
    }
    try {
      await db.batch(ops, { sync: true });
    } catch (err) {
      this.#ctx.log.error({ err }, 'mapped: queue write failed; message counted as dropped; reopening the queue');
      this.#tail -= 1;
      this.#drop('mapped', item.rule, 1);
      await this.#reopen();
      return;
    }
    if (dropped.length > 0) this.#drop('mapped', item.rule, dropped.length);
    this.#forward();
  }

  /** Close and reopen the queue so LevelDB recovers its log; head and tail are read back from disk. */
  async #reopen(): Promise<void> {
    const db = this.#db;
    if (!db) return;
    this.#db = undefined;
    await db.close().catch(() => undefined);
    try {
      await db.open();
      this.#head = 0;
      this.#tail = 0;
      for await (const k of db.keys({ limit: 1 })) this.#head = Number(k);
      for await (const k of db.keys({ reverse: true, limit: 1 })) this.#tail = Number(k) + 1;
      if (this.#tail === 0) this.#head = 0;
      this.#db = db;
    } catch (err) {
      // Disk still failing: the next message tries again.
      this.#ctx.log.error({ err }, 'mapped: cannot reopen the queue');
      this.#db = db;
    }
  }

  #forward(): void {
    if (this.#forwarding) {
      this.#again = true;
      return;
    }
    this.#forwarding = true;
    void this.#forwardLoop()
      .catch((err: unknown) => this.#ctx.log.debug({ err: (err as Error).message }, 'mapped: forwarding paused'))
      .finally(() => {
        this.#forwarding = false;
        if (this.#again) {
          this.#again = false;
          if (this.#ctx.isOnline()) this.#forward();
        }
      });
  }

  async #forwardLoop(): Promise<void> {
    while (this.#ctx.isOnline() && this.#db && this.#head < this.#tail) {
      const db = this.#db;
      const n = this.#head;
      const raw = await db.get(key(n));
      if (raw !== undefined) {
        const item = JSON.parse(raw) as Queued;
        await this.#ctx.publishRemote(item.topic, Buffer.from(item.payload, 'base64'), 1);
        this.#forwarded += 1;
      }
      // Dropped as overflow meanwhile? head moved past it already.
      if (this.#head === n) {
        this.#head = n + 1;
        await db.del(key(n));
      }
    }
  }
}
