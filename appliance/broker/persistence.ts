// Ordered, group-committed level persistence for aedes 1.x.
//
// Why not stock aedes-persistence-level 9.2.0: every operation is an
// independent level call, and classic-level completes calls on a thread pool,
// so promises settle out of call order. aedes then emits the later packet of
// two first, its per-client dedupe (lib/client.js `dedupe`: drop a packet whose
// brokerCounter is not above the last one seen) silently drops the earlier
// one, and it only reaches a persistent subscriber from the offline queue after
// a reconnect (moscajs/aedes#994; measured here: 877 of 20,000 QoS 1 messages
// missing, 5,635 out of order). The emit side of that is fixed in
// ordered-delivery.ts; this adapter makes the storage side ordered:
//
// - Every mutation is applied synchronously, in call order, to an in-memory
//   overlay and appended to the next batch. Point reads look at the overlay,
//   which also keeps a bounded cache of values just written, so the store
//   behaves as if operations ran one after another and the hot path (aedes
//   reading back what it enqueued or updated a moment ago) never waits on a
//   disk read.
// - Batches are written one at a time (group commit), so the disk always holds
//   a prefix of the operation sequence, and promises of a batch settle in call
//   order after its write. Operations on one client that need a read from
//   disk (outgoingUpdate, outgoingClearMessageId on a cache miss) are chained
//   per client, and later operations of that client queue behind them.
// - Range reads (streams, subscriptionsByClient) wait for every queued write.
// - A failed batch (ENOSPC, EIO, failed fsync) is refused to everyone waiting
//   on it and on the batch that was open behind it; nothing of either is
//   acknowledged. The store then never writes on top of that LevelDB log
//   (LevelDB would continue after the torn bytes, and recovery drops what
//   follows a tear; a retried fsync may report success for lost pages): it
//   closes and reopens the database so recovery runs, drops every in-memory
//   overlay entry and reloads the subscription index from what is on disk,
//   and takes writes again. Until the reopen works (disk still full) every op
//   fails, and it is retried with backoff. The broker stays up: clients see
//   refused operations, then a broker that works again (issue 8).
//
// fsync policy (`sync`):
// - 'batch' (default): each group-committed batch is written with
//   `sync: true`. Everything aedes acknowledges waits for that fsync (PUBACK to
//   a publisher after outgoingEnqueue, SUBACK after addSubscriptions, retained
//   and will writes), so it survives kill -9 AND power loss. Concurrent
//   messages share one fsync. A batch holding only the bookkeeping below
//   (nobody waits for it) is written without fsync; the next synced batch
//   usually covers it, not when LevelDB switched log files in between (a
//   power cut then costs resends). flushed() and destroy() (a clean stop)
//   make everything durable, those batches included (GroupCommit.durable).
// - 'never': batches are written without fsync. LevelDB hands each batch to
//   the kernel with write(2) before the callback, so a PUBACKed message
//   survives kill -9 of the broker process, but not power loss or a kernel
//   crash (the window is the OS writeback interval).
// - Under both policies, the broker's bookkeeping of what it sent to a
//   subscriber (outgoingUpdate of a QoS 1 PUBLISH) and of what a subscriber
//   acknowledged (outgoingClearMessageId) settles as soon as its writes are
//   queued, not after its batch is written. The writes are still in op order,
//   so a crash can only lose a suffix of them, and losing one means a message
//   is sent to the subscriber again after restart, possibly under a new packet
//   id: a QoS 1 duplicate, which at-least-once allows (the message itself was
//   stored before its PUBACK). The packet id of a QoS 1 delivery is written
//   only if it stays unacknowledged for ID_WRITE_DELAY_MS (sent-ids.ts), so a
//   crash can lose that second's ids too, with the same consequence. Waiting would put a disk write between every
//   delivery and the wire, and between every subscriber PUBACK and reading
//   the next packet from that subscriber. outgoingUpdate of a QoS 2 PUBLISH or
//   a PUBREL still waits for its batch: a QoS 2 resend must reuse the packet
//   id the subscriber saw, or exactly-once would break.
import { Readable } from 'node:stream';
import type { Level } from 'level';
import { createRequire } from 'node:module';
import { topicMatches } from '../../contract/topics.ts';
import { decode, encode, encodePlain, encodeRef, isRef, PLAIN_HEADER, refKey, storedMessageId, type StoredPacket } from './persistence-codec.ts';
import { GroupCommit } from './group-commit.ts';
import { type SentId, SentIds } from './sent-ids.ts';

// The subscription trie aedes-persistence itself uses (qlobber's QlobberSub
// with aedes' options), loaded from aedes-persistence's own dependency so
// matching, '#'/'+' semantics and result order are exactly the stock ones.
interface QlobberSubLike {
  add(topic: string, sub: Subscription): void;
  remove(topic: string, sub: { clientId: string; topic: string }): void;
  match(topic: string): Subscription[];
}
const requireFromPersistence = createRequire(import.meta.resolve('aedes-persistence'));
const QlobberSub = requireFromPersistence('qlobber/aedes/qlobber-sub') as new (opts: object) => QlobberSubLike;
const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true };

export type SyncPolicy = 'batch' | 'never';

// aedes 1.2 (lib/handlers/subscribe.js storeSubscriptions) persists every filter
// of a SUBSCRIBE packet once any one of them is granted, the denied ones
// included: a persistent session could then have messages queued on a topic
// its ACL refused. The broker marks denied filters and they are not stored.
const DENIED = Symbol('tillbox.subscription.denied');
export function markDenied(sub: object): void {
  (sub as Record<symbol, boolean>)[DENIED] = true;
}
const isDenied = (sub: object): boolean => (sub as Record<symbol, boolean>)[DENIED] === true;

export type BrokerDb = Level<string, Buffer>;

export interface OrderedPersistenceOptions {
  /** An open or openable level database with buffer values; the adapter closes it in destroy(). */
  db: BrokerDb;
  sync: SyncPolicy;
  /** Told about every failed write and reopen (logging, the storage guard). */
  onWriteError?: (err: unknown, phase: 'write' | 'reopen') => void;
  /** Told when the store took writes again after a failure. */
  onRecovered?: () => void;
  /** First delay between reopen attempts, ms (doubles up to 5 s). */
  reopenDelayMs?: number;
  /**
   * Per client, the most QoS > 0 messages (and bytes) queued for it; beyond
   * that the oldest are dropped and counted (an offline kiosk must not make
   * the broker store every POS event for ever: issue 9). Unset: unbounded.
   */
  queueMax?: number;
  queueMaxBytes?: number;
  /** Told about messages dropped from a client's queue. */
  onDrop?: (clientId: string, count: number) => void;
}

const REOPEN_MAX_MS = 5000;
/** How long a QoS 1 delivery's packet id stays in memory only (see outgoingUpdate and sent-ids.ts). */
const ID_WRITE_DELAY_MS = 1000;

export interface SubscriptionRequest {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  [k: string]: unknown;
}

export interface Subscription {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  [k: string]: unknown;
}

interface ClientRef {
  id: string;
  /**
   * aedes' Client: the packet id its next QoS > 0 delivery without one gets
   * (lib/qos-packet.js, aedes 1.2.0, pinned in aedes-patches). Absent on the
   * plain objects the abstract suite passes.
   */
  _nextId?: number;
}

const RETAINED = 'retained:';
const SUBSCRIPTIONS = 'subscriptions:';
const OUTGOING = 'outgoing:';
const OUTGOINGID = 'outgoing-id:';
const INCOMING = 'incoming:';
const WILL = 'will:';
const SESSION = 'session:';

// Keys compare as bytes; ':' ends every prefix and ';' is the next byte, so
// [prefix, prefix-with-';') is exactly the keys under the prefix.
function range(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix.slice(0, -1)};` };
}
// Same result as String(n).padStart(16, '0'), which profiled as the costliest
// line of key building (several calls per message).
const ZEROS = '0000000000000000';
const pad = (n: number | undefined): string => {
  const s = String(n ?? 0);
  return s.length >= 16 ? s : ZEROS.slice(s.length) + s;
};
// Every key of a message names its client: encode each client id once, not
// per key (bounded: forgotten wholesale when full).
const encoded = new Map<string, string>();
const enc = (id: string): string => {
  let e = encoded.get(id);
  if (e === undefined) {
    if (encoded.size >= 4096) encoded.clear();
    e = encodeURIComponent(id);
    encoded.set(id, e);
  }
  return e;
};
const outgoingByClient = (clientId: string): string => `${OUTGOING}${enc(clientId)}:`;
const outgoingKey = (clientId: string, brokerId: string | undefined, counter: number | undefined): string => `${outgoingByClient(clientId)}${brokerId}:${pad(counter)}`;
const outgoingIdByClient = (clientId: string): string => `${OUTGOINGID}${enc(clientId)}:`;
const outgoingIdKey = (clientId: string, messageId: number | undefined): string => `${outgoingIdByClient(clientId)}${pad(messageId)}`;
const outgoingKeyOf = (clientId: string, p: StoredPacket): string => outgoingKey(clientId, p.brokerId, p.brokerCounter);
const incomingByClient = (clientId: string): string => `${INCOMING}${enc(clientId)}:`;
const incomingKey = (clientId: string, messageId: number | undefined): string => `${incomingByClient(clientId)}${pad(messageId)}`;
const willKey = (clientId: string): string => `${WILL}${enc(clientId)}`;
const subsByClient = (clientId: string): string => `${SUBSCRIPTIONS}${enc(clientId)}:`;
const subKey = (clientId: string, topic: string): string => `${subsByClient(clientId)}${topic}`;
const sessionKey = (clientId: string): string => `${SESSION}${enc(clientId)}`;
/** The client id in an outgoing:<enc(id)>:... key. */
const clientOfOutgoing = (key: string): string => decodeURIComponent(key.slice(OUTGOING.length, key.indexOf(':', OUTGOING.length)));

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Serialises async work per key (a client id) while letting different keys run
 * concurrently. Callers skip it when nothing is queued for the key and the work
 * needs no disk read (has()).
 */
class KeyedChain {
  readonly #tails = new Map<string, Promise<unknown>>();

  has(key: string): boolean {
    return this.#tails.has(key);
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}

export class OrderedLevelPersistence {
  readonly #db: BrokerDb;
  readonly #w: GroupCommit;
  readonly #opts: OrderedPersistenceOptions;
  readonly #chain = new KeyedChain();
  /** QoS > 0 subscriptions: what subscriptionsByTopic matches. */
  #trie: QlobberSubLike = new QlobberSub(QLOBBER_OPTIONS);
  #broker: { id: string } | undefined;
  #recovering: Promise<void> | undefined;
  #destroyed = false;
  /** Failed batches and reopens since start; queued messages dropped by the bounds; sessions expired. */
  readonly stats = { failedBatches: 0, reopens: 0, dropped: 0, expiredSessions: 0 };
  /** Messages (and their approximate bytes) queued per client id. */
  readonly #queued = new Map<string, { count: number; bytes: number }>();
  /** Subscriptions stored per client (any QoS) and inbound QoS 2 packet ids not yet released. */
  #subsOf = new Map<string, Set<string>>();
  #incomingOf = new Map<string, Set<number>>();
  readonly #trimming = new Set<string>();
  /** QoS 1 deliveries' packet ids (see outgoingUpdate). */
  readonly #sent = new SentIds();
  #idTimer: NodeJS.Timeout | undefined;

  constructor(opts: OrderedPersistenceOptions) {
    this.#db = opts.db;
    this.#opts = opts;
    this.#w = new GroupCommit(opts.db, opts.sync === 'batch', (err) => this.#recover(err));
  }

  get broker(): { id: string } | undefined {
    return this.#broker;
  }

  /** True from a failed write until the reopened database takes writes again. */
  get recovering(): boolean {
    return this.#recovering !== undefined;
  }

  async setup(broker: { id: string }): Promise<void> {
    this.#broker = broker;
    if (this.#db.status !== 'open') await this.#db.open();
    await this.#loadIndex();
    await this.#loadQueueSizes();
    // A crash can leave a queue over its bound (the trim trails the enqueues): enforce it now.
    for (const clientId of this.#queued.keys()) if (this.#overBound(clientId)) this.#trim(clientId);
  }

  async #loadQueueSizes(): Promise<void> {
    this.#queued.clear();
    for await (const [k, v] of this.#db.iterator({ ...range(OUTGOING), valueEncoding: 'buffer' })) {
      const q = this.#queueOf(clientOfOutgoing(k));
      q.count++;
      q.bytes += v.length;
    }
  }

  #queueOf(clientId: string): { count: number; bytes: number } {
    let q = this.#queued.get(clientId);
    if (!q) {
      q = { count: 0, bytes: 0 };
      this.#queued.set(clientId, q);
    }
    return q;
  }

  /** Messages queued for a client (for status and tests). */
  queuedFor(clientId: string): { count: number; bytes: number } {
    return { ...(this.#queued.get(clientId) ?? { count: 0, bytes: 0 }) };
  }

  /** Drops a client's oldest queued messages until it is within the bounds (one trim per client at a time). */
  #trim(clientId: string): void {
    const max = this.#opts.queueMax;
    const maxBytes = this.#opts.queueMaxBytes;
    if (this.#trimming.has(clientId) || this.#destroyed) return;
    this.#trimming.add(clientId);
    void (async () => {
      const q = this.#queueOf(clientId);
      let dropped = 0;
      await this.#w.barrier();
      for await (const [k, v] of this.#db.iterator({ ...range(outgoingByClient(clientId)), valueEncoding: 'buffer' })) {
        if ((max === undefined || q.count <= max) && (maxBytes === undefined || q.bytes <= maxBytes)) break;
        // A later op on the key (its delivery, its PUBACK) owns it: leave it.
        if (this.#w.isPending(k)) continue;
        void this.#w.del(k, true);
        const sent = this.#sent.ofKey(k);
        if (sent) {
          this.#sent.delete(sent);
          if (sent.onDisk) void this.#w.del(outgoingIdKey(clientId, sent.messageId), true);
        }
        q.count--;
        q.bytes -= v.length;
        dropped++;
      }
      if (dropped > 0) {
        this.stats.dropped += dropped;
        this.#opts.onDrop?.(clientId, dropped);
      }
    })()
      .catch(() => undefined)
      .finally(() => {
        this.#trimming.delete(clientId);
        // Messages queued while this trim ran (they were not on disk yet) may put the client
        // over the bound again: trim once more rather than wait for its next message.
        if (this.#overBound(clientId) && this.#w.failed === undefined) setImmediate(() => this.#trim(clientId));
      });
  }

  #overBound(clientId: string): boolean {
    const q = this.#queued.get(clientId);
    if (!q) return false;
    return (this.#opts.queueMax !== undefined && q.count > this.#opts.queueMax) || (this.#opts.queueMaxBytes !== undefined && q.bytes > this.#opts.queueMaxBytes);
  }

  /** Records that a client with a persistent session was seen now (connect or disconnect). */
  touchSession(clientId: string, now = Date.now()): void {
    if (this.#w.failed !== undefined) return;
    void this.#w.put(sessionKey(clientId), Buffer.from(String(now)), true).catch(() => undefined);
  }

  /**
   * Removes every persistent session not seen for `maxAgeMs` whose client is
   * not connected: its subscriptions, queued messages, QoS 2 state and will.
   * A session without a record yet (older boxes) gets one now and lives on.
   */
  async expireSessions(maxAgeMs: number, isConnected: (clientId: string) => boolean, now = Date.now()): Promise<string[]> {
    const clients = new Set<string>();
    for await (const sub of this.#values<Subscription>(SUBSCRIPTIONS)) clients.add(sub.clientId);
    for (const id of this.#queued.keys()) clients.add(id);
    const expired: string[] = [];
    for (const id of clients) {
      if (isConnected(id)) continue;
      const raw = this.#w.peek(sessionKey(id)) ?? (await this.#db.get(sessionKey(id), { valueEncoding: 'buffer' }).catch(() => undefined));
      const at = raw ? Number(raw.toString()) : NaN;
      if (!Number.isFinite(at)) {
        this.touchSession(id, now);
        continue;
      }
      if (now - at < maxAgeMs) continue;
      const client = { id };
      await this.cleanSubscriptions(client);
      await this.cleanIncoming(client);
      await this.delWill(client);
      // The index first: no packet id of this client is queued for writing
      // after this. Then wait for what is queued (an id written because the
      // subscriber was slow, in the open batch or in flight, is on no
      // iterator's snapshot yet: it outlived the session before) and delete
      // what is on disk and whatever was queued since.
      this.#sent.dropClient(id);
      await this.#w.barrier();
      const keys = new Set([...this.#w.pendingKeys(outgoingByClient(id)), ...this.#w.pendingKeys(outgoingIdByClient(id))]);
      for await (const k of this.#db.keys(range(outgoingByClient(id)))) keys.add(k);
      for await (const k of this.#db.keys(range(outgoingIdByClient(id)))) keys.add(k);
      for (const k of keys) void this.#w.del(k, true);
      await this.#w.del(sessionKey(id));
      this.#queued.delete(id);
      this.stats.expiredSessions++;
      expired.push(id);
    }
    return expired;
  }

  /**
   * Rebuilds the subscription index from disk. It is built aside and swapped
   * in whole: while it loads (many turns of the event loop on a large store)
   * publishes keep matching the previous index, never a half-filled one that
   * would let a PUBACK go out for a message queued for nobody.
   */
  async #loadIndex(): Promise<void> {
    const trie = new QlobberSub(QLOBBER_OPTIONS);
    const subsOf = new Map<string, Set<string>>();
    const incomingOf = new Map<string, Set<number>>();
    for await (const v of this.#db.values({ ...range(SUBSCRIPTIONS), valueEncoding: 'buffer' })) {
      const sub = decode<Subscription>(v);
      addToIndex(trie, sub);
      setAdd(subsOf, sub.clientId, sub.topic);
    }
    for await (const k of this.#db.keys(range(INCOMING))) {
      const rest = k.slice(INCOMING.length);
      const i = rest.lastIndexOf(':');
      setAdd(incomingOf, decodeURIComponent(rest.slice(0, i)), Number(rest.slice(i + 1)));
    }
    this.#trie = trie;
    this.#subsOf = subsOf;
    this.#incomingOf = incomingOf;
  }

  /**
   * Whether the broker holds session state for a client id (subscriptions,
   * queued messages, an unreleased inbound QoS 2 message): CONNACK's Session
   * Present [MQTT-3.2.2-2]. Synchronous, from memory.
   */
  hasSessionState(clientId: string): boolean {
    return (this.#subsOf.get(clientId)?.size ?? 0) > 0 || (this.#queued.get(clientId)?.count ?? 0) > 0 || (this.#incomingOf.get(clientId)?.size ?? 0) > 0;
  }

  /** Close, reopen until it works, reload the index, take writes again (see the header). */
  #recover(err: unknown): void {
    this.stats.failedBatches += 1;
    this.#opts.onWriteError?.(err, 'write');
    if (this.#recovering || this.#destroyed) return;
    this.#recovering = (async () => {
      await this.#db.close().catch(() => undefined);
      let delay = this.#opts.reopenDelayMs ?? 100;
      while (!this.#destroyed) {
        try {
          await this.#db.open();
          await this.#loadIndex();
          await this.#loadQueueSizes();
          break;
        } catch (e) {
          this.#opts.onWriteError?.(e, 'reopen');
          await this.#db.close().catch(() => undefined);
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, REOPEN_MAX_MS);
        }
      }
      if (this.#destroyed) return;
      this.stats.reopens += 1;
      this.#w.reset();
      this.#opts.onRecovered?.();
    })().finally(() => {
      this.#recovering = undefined;
    });
  }

  /**
   * Waits until every write issued so far is on disk per the sync policy:
   * with 'batch', fsync'd, the unsynced bookkeeping batches included
   * (GroupCommit.durable()).
   */
  flushed(): Promise<void> {
    this.#writeIds(Number.POSITIVE_INFINITY);
    return this.#w.durable();
  }

  async #get<T>(key: string): Promise<T | undefined> {
    const v = await this.#getRaw(key);
    return v === undefined ? undefined : decode<T>(v);
  }

  async #getRaw(key: string): Promise<Buffer | undefined> {
    const pending = this.#w.peek(key);
    if (pending !== undefined) return pending ?? undefined;
    const v = await this.#db.get(key, { valueEncoding: 'buffer' });
    // A write queued while the read was on the thread pool wins.
    const later = this.#w.peek(key);
    if (later !== undefined) return later ?? undefined;
    return v;
  }

  async *#values<T>(prefix: string): AsyncGenerator<T> {
    await this.#w.barrier();
    for await (const v of this.#db.values({ ...range(prefix), valueEncoding: 'buffer' })) yield decode<T>(v);
  }

  // --- retained ---------------------------------------------------------------

  async storeRetained(packet: StoredPacket): Promise<void> {
    const key = `${RETAINED}${packet.topic}`;
    const empty = packet.payload === undefined || packet.payload.length === 0;
    await (empty ? this.#w.del(key) : this.#w.put(key, encode({ ...packet })));
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const self = this;
    async function* gen(): AsyncGenerator<StoredPacket> {
      for (const pattern of patterns) {
        for await (const p of self.#values<StoredPacket>(RETAINED)) {
          if (topicMatches(pattern, p.topic)) yield p;
        }
      }
    }
    return Readable.from(gen());
  }

  // --- subscriptions ------------------------------------------------------------

  #removeFromIndex(clientId: string, topic: string): void {
    for (const m of this.#trie.match(topic)) {
      if (m.clientId === clientId && m.topic === topic) this.#trie.remove(topic, { clientId, topic });
    }
  }

  async addSubscriptions(client: ClientRef, subs: Array<SubscriptionRequest>): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const s of subs) {
      if (isDenied(s)) continue;
      const sub = { ...s, clientId: client.id } as Subscription;
      addToIndex(this.#trie, sub);
      setAdd(this.#subsOf, client.id, sub.topic);
      writes.push(this.#w.put(subKey(client.id, sub.topic), encode(sub)));
    }
    await Promise.all(writes);
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const topic of topics) {
      this.#removeFromIndex(client.id, topic);
      setDel(this.#subsOf, client.id, topic);
      writes.push(this.#w.del(subKey(client.id, topic)));
    }
    await Promise.all(writes);
  }

  async subscriptionsByClient(client: ClientRef): Promise<Array<SubscriptionRequest>> {
    const out: Array<SubscriptionRequest> = [];
    for await (const sub of this.#values<Subscription>(subsByClient(client.id))) {
      const { clientId: _c, ...rest } = sub;
      out.push(rest);
    }
    return out;
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    let subsCount = 0;
    let clientsCount = 0;
    let last: string | null = null;
    for await (const sub of this.#values<Subscription>(SUBSCRIPTIONS)) {
      if (sub.clientId !== last) {
        last = sub.clientId;
        clientsCount++;
      }
      if (sub.qos > 0) subsCount++;
    }
    return { subsCount, clientsCount };
  }

  async subscriptionsByTopic(topic: string): Promise<Subscription[]> {
    return this.#trie.match(topic);
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    const subs = await this.subscriptionsByClient(client);
    if (subs.length > 0)
      await this.removeSubscriptions(
        client,
        subs.map((s) => s.topic),
      );
  }

  getClientList(topic: string): Readable {
    const self = this;
    async function* gen(): AsyncGenerator<string> {
      for await (const sub of self.#values<Subscription>(SUBSCRIPTIONS)) if (sub.topic === topic) yield sub.clientId;
    }
    return Readable.from(gen());
  }

  // --- outgoing (QoS > 0 towards subscribers) ------------------------------------

  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  outgoingEnqueueCombi(subs: Array<{ clientId: string }> | null | undefined, packet: StoredPacket): Promise<void> {
    // While the store recovers the index may be stale: refuse even a message that
    // matches nobody, so its PUBACK waits for a store that works (issue 8).
    if (this.#recovering) return Promise.reject(new Error('broker store is recovering from a failed write'));
    if (!subs || subs.length === 0) return RESOLVED;
    // Queued packets carry no packet id yet (aedes-packet drops it for QoS > 0).
    // One encoding serves every subscriber; all puts join the open batch
    // synchronously, so they share one commit and one promise.
    const value = encodePlain(packet, undefined);
    let done = RESOLVED;
    for (const s of subs) {
      done = this.#w.put(outgoingKey(s.clientId, packet.brokerId, packet.brokerCounter), value);
      const q = this.#queueOf(s.clientId);
      q.count++;
      q.bytes += value.length;
      if ((this.#opts.queueMax !== undefined && q.count > this.#opts.queueMax) || (this.#opts.queueMaxBytes !== undefined && q.bytes > this.#opts.queueMaxBytes)) this.#trim(s.clientId);
    }
    return done;
  }

  // outgoingUpdate (QoS 1) and outgoingClearMessageId settle once their writes
  // are queued (see the fsync policy above). Their reads come from memory; only a
  // miss goes to the disk, through the per-client chain.
  //
  // A QoS 1 delivery does not rewrite the queued message (it is on disk since
  // its enqueue, fsync'd before the publisher's PUBACK). Its packet id goes to
  // the in-memory index of sent-ids.ts, and to disk as a reference to the
  // message's key (outgoing-id:<client>:<id> -> encodeRef) only if the
  // subscriber has not acknowledged it within ID_WRITE_DELAY_MS. Before, each
  // delivery wrote the message twice more (under its id, and again with the id
  // in it) and each acknowledgement deleted both: three of the five LevelDB
  // ops and most of the bytes per message. outgoingStream joins the ids back
  // in. QoS 2 and PUBREL keep full copies under both keys, written durably.

  outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const id = client.id;
    if (!this.#chain.has(id)) {
      let okey: string | null | undefined = packet.brokerId ? outgoingKey(id, packet.brokerId, packet.brokerCounter) : this.#sent.get(id, packet.messageId)?.okey;
      if (okey === undefined) {
        const byId = this.#w.peek(outgoingIdKey(id, packet.messageId));
        if (byId === null) return Promise.reject(new Error('no such packet'));
        if (byId !== undefined) okey = isRef(byId) ? refKey(byId) : outgoingKeyOf(id, decode<StoredPacket>(byId));
      }
      if (okey !== undefined) {
        const old = this.#w.peek(okey);
        if (old === null) return this.#gone(packet);
        if (old !== undefined) return this.#applyUpdate(client, okey, packet, old);
      }
    }
    return this.#chain.run(id, async () => {
      let okey = packet.brokerId ? outgoingKey(id, packet.brokerId, packet.brokerCounter) : this.#sent.get(id, packet.messageId)?.okey;
      if (okey === undefined) {
        const byId = await this.#getRaw(outgoingIdKey(id, packet.messageId));
        if (!byId) throw new Error('no such packet');
        okey = isRef(byId) ? refKey(byId) : outgoingKeyOf(id, decode<StoredPacket>(byId));
      }
      const old = await this.#getRaw(okey);
      if (!old) return this.#gone(packet);
      return this.#applyUpdate(client, okey, packet, old);
    });
  }

  /**
   * outgoingUpdate of a message no longer queued. A QoS 1 delivery of a
   * queued message (it has its broker id) whose message the queue bound
   * dropped meanwhile (#trim: the subscriber, online, fell more than
   * queueMax behind) goes out without bookkeeping: refusing it made aedes
   * close the subscriber's connection once per such message ("no such
   * packet"), and it is in aedes' hands already. Its PUBACK then finds
   * nothing, and a crash forgets it, as the bound allows. Anything else
   * (QoS 2, PUBREL by id) is refused as before.
   */
  #gone(packet: StoredPacket): Promise<void> {
    if (packet.cmd === 'publish' && packet.qos === 1 && packet.brokerId) return RESOLVED;
    return Promise.reject(new Error('no such packet'));
  }

  #applyUpdate(client: ClientRef, okey: string, packet: StoredPacket, old: Buffer): Promise<void> {
    if (this.#w.failed !== undefined) return Promise.reject(this.#w.failed);
    const clientId = client.id;
    if (!packet.brokerId) {
      // aedes updates a PUBREL by packet id alone.
      const p = decode<StoredPacket>(old);
      packet.brokerId = p.brokerId;
      packet.brokerCounter = p.brokerCounter;
    }
    let messageId = packet.messageId ?? 0;
    if (packet.cmd === 'publish' && packet.qos === 1) {
      const holder = this.#sent.get(clientId, messageId);
      if (holder && holder.okey !== okey) {
        // The id is in flight for another message: aedes counts ids from a
        // random start per connection, and a resent message keeps the id it
        // had before a restart or reconnect (outgoingStream), so the two can
        // meet. Two messages in flight under one id break [MQTT-2.3.1-2], and
        // the subscriber's PUBACK would clear whichever the index holds. The
        // newer delivery takes the next free id instead: aedes writes this
        // very packet object once this call resolves.
        const free = this.#sent.freeId(clientId, client._nextId ?? messageId + 1);
        if (free === undefined) return Promise.reject(new Error('every packet id is in flight for this client'));
        messageId = free;
        packet.messageId = free;
        if (client._nextId !== undefined) client._nextId = free >= 0xffff ? 1 : free + 1;
      }
    }
    const prev = this.#sent.ofKey(okey);
    const oldMessageId = prev ? prev.messageId : storedMessageId(old);
    if (oldMessageId !== undefined && oldMessageId > 0 && oldMessageId !== messageId) {
      if (!prev || prev.onDisk) void this.#w.del(outgoingIdKey(clientId, oldMessageId), true);
    }
    if (packet.cmd === 'publish' && packet.qos === 1) {
      // Resent under the id it had: whatever is on disk for it stays valid.
      const onDisk = prev !== undefined && prev.messageId === messageId && prev.onDisk;
      // Monotonic: a wall clock stepped back (NTP after boot) would hold id writes back.
      this.#sent.set(clientId, messageId, okey, performance.now(), onDisk);
      if (!onDisk) this.#scheduleIdWrites();
      return RESOLVED;
    }
    const had = this.#sent.get(clientId, messageId);
    if (had) this.#sent.delete(had);
    if (prev) this.#sent.delete(prev);
    // QoS 2 waits: a resend after restart must reuse the packet id the
    // subscriber has seen, or it would deliver the message twice.
    const value = packet.cmd === 'pubrel' ? encode({ ...packet }) : encodePlain(packet, packet.messageId);
    void this.#w.put(outgoingIdKey(clientId, messageId), value);
    return this.#w.put(okey, value);
  }

  #scheduleIdWrites(): void {
    if (this.#idTimer || this.#destroyed) return;
    this.#idTimer = setTimeout(() => {
      this.#idTimer = undefined;
      this.#writeIds(performance.now() - ID_WRITE_DELAY_MS);
      if (this.#sent.pending) this.#scheduleIdWrites();
    }, ID_WRITE_DELAY_MS);
    this.#idTimer.unref();
  }

  /** Writes the packet ids of QoS 1 deliveries sent at or before `cutoff` and not yet acknowledged. */
  #writeIds(cutoff: number): void {
    // Retried by the next timer (or flushed()) once the store takes writes again.
    if (this.#w.failed !== undefined || this.#recovering) return;
    for (const e of this.#sent.takeUnwritten(cutoff)) void this.#w.put(outgoingIdKey(e.clientId, e.messageId), encodeRef(e.okey), true);
  }

  outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const id = client.id;
    const messageId = packet.messageId;
    if (!this.#chain.has(id)) {
      const sent = this.#sent.get(id, messageId);
      if (sent) {
        const stored = this.#w.peek(sent.okey);
        if (stored !== undefined) return this.#applyClearSent(sent, stored);
      } else {
        const v = this.#w.peek(outgoingIdKey(id, messageId));
        if (v === null) return Promise.resolve(undefined);
        if (v !== undefined && !isRef(v)) {
          const p = decode<StoredPacket>(v);
          return this.#applyClear(id, messageId, outgoingKeyOf(id, p), p);
        }
      }
    }
    return this.#chain.run(id, async () => {
      let sent = this.#sent.get(id, messageId);
      if (!sent) {
        const v = await this.#getRaw(outgoingIdKey(id, messageId));
        if (!v) return undefined;
        const p = isRef(v) ? undefined : decode<StoredPacket>(v);
        if (p) return this.#applyClear(id, messageId, outgoingKeyOf(id, p), p);
        sent = this.#sent.set(id, messageId ?? 0, refKey(v), 0, true);
      }
      return this.#applyClearSent(sent, (await this.#getRaw(sent.okey)) ?? null);
    });
  }

  /** Clears a QoS 1 delivery; `stored` is the queued message (null: already gone, e.g. trimmed). */
  #applyClearSent(sent: SentId, stored: Buffer | null): Promise<StoredPacket | undefined> {
    if (this.#w.failed !== undefined) return Promise.reject(this.#w.failed);
    this.#sent.delete(sent);
    if (sent.onDisk) void this.#w.del(outgoingIdKey(sent.clientId, sent.messageId), true);
    if (stored === null) return Promise.resolve(undefined);
    const found = decode<StoredPacket>(stored);
    found.messageId = sent.messageId;
    return this.#applyClear(sent.clientId, undefined, sent.okey, found, stored.length);
  }

  /** Drops a delivered message (and, given its id, the id's durable entry) and counts it out of the queue. */
  #applyClear(clientId: string, messageId: number | undefined, okey: string, found: StoredPacket, bytes?: number): Promise<StoredPacket> {
    if (this.#w.failed !== undefined) return Promise.reject(this.#w.failed);
    const q = this.#queued.get(clientId);
    if (q && q.count > 0) {
      q.count--;
      q.bytes = Math.max(0, q.bytes - (bytes ?? PLAIN_HEADER + Buffer.byteLength(found.topic) + (Buffer.isBuffer(found.payload) ? found.payload.length : Buffer.byteLength(String(found.payload)))));
    }
    if (messageId !== undefined) void this.#w.del(outgoingIdKey(clientId, messageId), true);
    void this.#w.del(okey, true);
    return Promise.resolve(found);
  }

  outgoingStream(client: ClientRef): Readable {
    return Readable.from(this.#outgoing(client));
  }

  /**
   * A client's queued messages in order, each with the packet id it was last
   * sent under. The ids on disk are restored into the index before the first
   * message is yielded, so no delivery of this connection can take one of
   * them meanwhile (#applyUpdate moves a delivery off an id in flight), and
   * aedes' id counter is moved past the last one restored: deliveries that
   * skip outgoingUpdate (retained replays) start after them. Entries on disk
   * that no longer name a queued message under that id are deleted (they
   * were left by a crash between the bookkeeping writes, and were never
   * removed before).
   */
  async *#outgoing(client: ClientRef): AsyncGenerator<StoredPacket> {
    const clientId = client.id;
    await this.#w.barrier();
    const restored = new Map<string, SentId>();
    let lastKey = '';
    let lastId: number | undefined;
    for await (const [k, v] of this.#db.iterator({ ...range(outgoingIdByClient(clientId)), valueEncoding: 'buffer' })) {
      // A QoS 2 copy: aedes reads its id from the queued copy itself.
      if (!isRef(v)) continue;
      const messageId = Number(k.slice(k.lastIndexOf(':') + 1));
      const okey = refKey(v);
      const holder = this.#sent.get(clientId, messageId);
      if (holder) {
        // The same delivery: its acknowledgement must delete this entry.
        if (holder.okey === okey) this.#sent.markOnDisk(holder);
        // Taken in memory since this was written: stale, unless the holder's
        // own entry is queued to replace it.
        else if (!holder.onDisk) void this.#w.del(k, true);
        continue;
      }
      if (this.#sent.ofKey(okey)) {
        // The message was sent again under another id since.
        void this.#w.del(k, true);
        continue;
      }
      restored.set(okey, this.#sent.set(clientId, messageId, okey, 0, true));
      if (okey > lastKey) {
        lastKey = okey;
        lastId = messageId;
      }
    }
    if (lastId !== undefined && client._nextId !== undefined) client._nextId = lastId >= 0xffff ? 1 : lastId + 1;
    for await (const [k, v] of this.#db.iterator({ ...range(outgoingByClient(clientId)), valueEncoding: 'buffer' })) {
      const p = decode<StoredPacket>(v);
      const sent = this.#sent.ofKey(k);
      if (sent) p.messageId = sent.messageId;
      restored.delete(k);
      yield p;
    }
    // What is left names no queued message: acknowledged or dropped while its id entry was not yet on disk.
    for (const e of restored.values()) {
      if (e.gone) continue;
      this.#sent.delete(e);
      void this.#w.del(outgoingIdKey(clientId, e.messageId), true);
    }
  }

  // --- incoming (QoS 2 from publishers) ------------------------------------------

  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    setAdd(this.#incomingOf, client.id, packet.messageId ?? 0);
    await this.#w.put(incomingKey(client.id, packet.messageId), encodePlain(packet, packet.messageId));
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket> {
    const p = await this.#get<StoredPacket>(incomingKey(client.id, packet.messageId));
    if (!p) throw new Error('no such packet');
    return p;
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId?: number }): Promise<void> {
    setDel(this.#incomingOf, client.id, packet.messageId ?? 0);
    await this.#w.del(incomingKey(client.id, packet.messageId));
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    this.#incomingOf.delete(client.id);
    const prefix = incomingByClient(client.id);
    const keys = new Set(this.#w.pendingKeys(prefix));
    await this.#w.barrier();
    for await (const k of this.#db.keys(range(prefix))) keys.add(k);
    await Promise.all([...keys].map((k) => this.#w.del(k)));
  }

  // --- wills -------------------------------------------------------------------

  async putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    packet.brokerId = this.#broker?.id;
    packet.clientId = client.id;
    await this.#w.put(willKey(client.id), encode({ ...packet }));
  }

  async getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.#get<StoredPacket>(willKey(client.id));
  }

  async delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    const will = await this.#get<StoredPacket>(willKey(client.id));
    if (!will) return undefined;
    await this.#w.del(willKey(client.id));
    return will;
  }

  streamWill(brokers?: Record<string, unknown>): Readable {
    const self = this;
    async function* gen(): AsyncGenerator<StoredPacket> {
      for await (const will of self.#values<StoredPacket>(WILL)) {
        if (!brokers || !will.brokerId || !brokers[will.brokerId]) yield will;
      }
    }
    return Readable.from(gen());
  }

  async destroy(): Promise<void> {
    this.#destroyed = true;
    if (this.#idTimer) clearTimeout(this.#idTimer);
    await this.#recovering;
    try {
      this.#writeIds(Number.POSITIVE_INFINITY);
      // A clean stop followed by a power cut must not resend what subscribers acknowledged.
      await this.#w.durable();
    } finally {
      await this.#db.close();
    }
  }
}

/** For tests: the stored encoding of a publish packet and its decoder. */
export { encodePlain as encodeStoredPacket, decode as decodeStored } from './persistence-codec.ts';
export type { StoredPacket } from './persistence-codec.ts';

// Same rules as aedes-persistence-level's addSubToTrie: a QoS 0 subscription
// replaces (removes) a queued one, as it is never queued for offline delivery.
function addToIndex(trie: QlobberSubLike, sub: Subscription): void {
  let add = false;
  const matched = trie.match(sub.topic);
  if (matched.length > 0) {
    add = true;
    for (const m of matched) {
      if (m.clientId === sub.clientId) {
        if (m.qos === sub.qos) {
          add = false;
          break;
        }
        trie.remove(m.topic, m);
        if (sub.qos === 0) add = false;
      }
    }
  } else if (sub.qos > 0) {
    add = true;
  }
  if (add) trie.add(sub.topic, sub);
}

function setAdd<T>(m: Map<string, Set<T>>, k: string, v: T): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function setDel<T>(m: Map<string, Set<T>>, k: string, v: T): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
