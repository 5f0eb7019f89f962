// The packet id each QoS 1 message queued for a subscriber was last sent
// under, kept in memory (persistence.ts, outgoingUpdate). An online
// subscriber acknowledges most messages within milliseconds; an entry is
// written to disk only once it has waited longer than that (or on flushed()
// and close), so most deliveries cost the store no write for their id at all.
// Losing the unwritten ones in a crash only means those messages are sent
// again after restart under new ids: a QoS 1 duplicate, which at-least-once
// allows (the messages themselves were stored before their PUBACK).
// Ids written to disk come back into this index when the subscriber
// reconnects (persistence.ts, outgoingStream), ahead of any new delivery, and
// a new delivery never takes an id an entry holds (freeId).

export interface SentId {
  readonly clientId: string;
  readonly messageId: number;
  /** The queued message's key (outgoing:...). */
  readonly okey: string;
  /** When it was sent (ms, performance.now(): monotonic; 0 for one restored from disk). */
  readonly at: number;
  /** Its outgoing-id entry may be on disk: dropping the id must delete it. */
  onDisk: boolean;
  /** Replaced or dropped: no longer in the index. */
  gone: boolean;
}

export class SentIds {
  readonly #byClient = new Map<string, Map<number, SentId>>();
  /** Also the order of sending: an entry is always inserted anew, with the time it was sent. */
  readonly #byKey = new Map<string, SentId>();
  #unwritten = 0;

  get(clientId: string, messageId: number | undefined): SentId | undefined {
    return messageId === undefined ? undefined : this.#byClient.get(clientId)?.get(messageId);
  }

  ofKey(okey: string): SentId | undefined {
    return this.#byKey.get(okey);
  }

  /** Records a delivery, replacing whatever had this id or this message. */
  set(clientId: string, messageId: number, okey: string, at: number, onDisk: boolean): SentId {
    const prevById = this.get(clientId, messageId);
    if (prevById) this.delete(prevById);
    const prevByKey = this.#byKey.get(okey);
    if (prevByKey) this.delete(prevByKey);
    const e: SentId = { clientId, messageId, okey, at, onDisk, gone: false };
    let ids = this.#byClient.get(clientId);
    if (!ids) this.#byClient.set(clientId, (ids = new Map()));
    ids.set(messageId, e);
    this.#byKey.set(okey, e);
    if (!onDisk) this.#unwritten++;
    return e;
  }

  delete(e: SentId): void {
    if (e.gone) return;
    e.gone = true;
    if (!e.onDisk) this.#unwritten--;
    const ids = this.#byClient.get(e.clientId);
    ids?.delete(e.messageId);
    if (ids?.size === 0) this.#byClient.delete(e.clientId);
    this.#byKey.delete(e.okey);
  }

  /**
   * A packet id no entry of this client holds, trying `from` first and
   * counting up as aedes does (1..65535, then 1 again); undefined when all
   * are held.
   */
  freeId(clientId: string, from: number): number | undefined {
    const ids = this.#byClient.get(clientId);
    let id = from >= 1 && from <= 0xffff ? from : 1;
    if (!ids) return id;
    for (let i = 0; i < 0xffff; i++) {
      if (!ids.has(id)) return id;
      id = id >= 0xffff ? 1 : id + 1;
    }
    return undefined;
  }

  /** The entry's id was found on disk (written before): dropping it must delete it, and it needs no write. */
  markOnDisk(e: SentId): void {
    if (e.onDisk || e.gone) return;
    e.onDisk = true;
    this.#unwritten--;
  }

  dropClient(clientId: string): void {
    for (const e of this.#byClient.get(clientId)?.values() ?? []) this.delete(e);
  }

  /** True while some entry waits to be written. */
  get pending(): boolean {
    return this.#unwritten > 0;
  }

  /** Entries sent at or before `cutoff` and not on disk, now marked on disk (the caller writes them). */
  takeUnwritten(cutoff: number): SentId[] {
    const out: SentId[] = [];
    if (this.#unwritten === 0) return out;
    for (const e of this.#byKey.values()) {
      if (e.at > cutoff) break;
      if (e.onDisk) continue;
      e.onDisk = true;
      this.#unwritten--;
      out.push(e);
    }
    return out;
  }
}
