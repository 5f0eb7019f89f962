import { call, postSale, readJournal, type BoxProcess } from '../../harness/box.ts';
import { clientIdempotencyKey } from '../../contract/ids.ts';

// Tills that sell against a box while faults happen, and the one checker every
// storage fault is judged by: each sale a till saw acknowledged exists exactly
// once, with the id and seq it was acknowledged with; seq is 1..n without a
// gap; HLC strictly increases. A sale whose outcome the till never heard
// (connection cut, 503) is retried with the same key, as a real till does.

export const SALE = { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] };

export interface Ack {
  id: string;
  seq: number;
}

export interface Verdict {
  acknowledged: number;
  lost: string[];
  duplicated: string[];
  /** Acknowledged with one id/seq, found with another. */
  changed: string[];
  seqGaps: number;
  hlcRegressions: number;
  events: number;
}

export class Tills {
  readonly acked = new Map<string, Ack>();
  /** Sent, outcome unknown to the till (cut, refused): retried later with the same key. */
  readonly unknown = new Set<string>();
  #n = 0;
  #prefix: string;
  /** Sent with every request: a till token where the box is not reached over loopback (the image in qemu). */
  readonly #headers: Record<string, string>;

  constructor(prefix = 't', headers: Record<string, string> = {}) {
    this.#prefix = prefix;
    this.#headers = headers;
  }

  /** What the tills know, to carry across a process (the image's power-cut test sells, then verifies after a reboot). */
  toJSON(): { prefix: string; n: number; acked: Array<[string, Ack]>; unknown: string[] } {
    return { prefix: this.#prefix, n: this.#n, acked: [...this.acked], unknown: [...this.unknown] };
  }

  static fromJSON(doc: ReturnType<Tills['toJSON']>, headers: Record<string, string> = {}): Tills {
    const t = new Tills(doc.prefix, headers);
    t.#n = doc.n;
    for (const [k, a] of doc.acked) t.acked.set(k, a);
    for (const k of doc.unknown) t.unknown.add(k);
    return t;
  }

  /** One sale with a fresh key; resolves with the HTTP status, 0 when the connection failed. */
  async sell(port: number, timeoutMs = 10_000): Promise<number> {
    const key = `${this.#prefix}-${this.#n++}`;
    return this.#send(port, key, timeoutMs);
  }

  async #send(port: number, key: string, timeoutMs: number): Promise<number> {
    this.unknown.add(key);
    let r: Awaited<ReturnType<typeof postSale>>;
    try {
      r = await withTimeout(postSale(port, key, SALE, this.#headers), timeoutMs);
    } catch {
      return 0;
    }
    if (r.status === 200 || r.status === 201) {
      const b = r.json<Ack>();
      const before = this.acked.get(key);
      if (before && (before.id !== b.id || before.seq !== b.seq)) throw new Error(`key ${key} acknowledged twice differently: ${JSON.stringify(before)} then ${JSON.stringify(b)}`);
      this.acked.set(key, { id: b.id, seq: b.seq });
      this.unknown.delete(key);
    } else if (r.status !== 503) {
      throw new Error(`unexpected ${r.status}: ${r.body}`);
    }
    return r.status;
  }

  /** `count` tills selling back to back until `stop()` returns true. */
  async run(port: number, count: number, stop: () => boolean, timeoutMs = 10_000): Promise<void> {
    await Promise.all(
      Array.from({ length: count }, async () => {
        while (!stop()) {
          const status = await this.sell(port, timeoutMs);
          if (status === 0 || status === 503) await new Promise((r) => setTimeout(r, 20));
        }
      }),
    );
  }

  /** Retries every sale whose outcome is unknown, until each is answered. */
  async settle(port: number): Promise<void> {
    for (const key of [...this.unknown]) {
      for (let attempt = 0; this.unknown.has(key); attempt++) {
        const status = await this.#send(port, key, 10_000);
        if (status === 201 || status === 200) break;
        if (attempt > 100) throw new Error(`sale ${key} still refused after ${attempt} retries (status ${status})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Reads the whole journal through the API and judges it (`auth`: the manager's header where loopback is not open). */
  async verdict(box: Pick<BoxProcess, 'port'>, auth: Record<string, string> = {}): Promise<Verdict> {
    const events = await readJournal(box.port, auth);
    const byKey = new Map<string, Array<{ id: string; seq: number }>>();
    for (const e of events) {
      // The journal keeps keys scoped to the caller (contract/ids.ts); these tills are one caller.
      const k = clientIdempotencyKey(e.idempotencyKey);
      const list = byKey.get(k) ?? [];
      list.push(e);
      byKey.set(k, list);
    }
    const lost: string[] = [];
    const duplicated: string[] = [];
    const changed: string[] = [];
    for (const [key, ack] of this.acked) {
      const found = byKey.get(key) ?? [];
      if (found.length === 0) lost.push(key);
      else if (found.length > 1) duplicated.push(key);
      else if (found[0]!.id !== ack.id || found[0]!.seq !== ack.seq) changed.push(key);
    }
    let seqGaps = 0;
    let hlcRegressions = 0;
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.seq !== i + 1) seqGaps++;
      if (i > 0 && !(events[i]!.hlc > events[i - 1]!.hlc)) hlcRegressions++;
    }
    return { acknowledged: this.acked.size, lost, duplicated, changed, seqGaps, hlcRegressions, events: events.length };
  }
}

export async function waitHealthy(port: number, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      if ((await call(port, 'GET', '/healthz')).status === 200) return Date.now() - t0;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`box not healthy within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        res(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        rej(e as Error);
      },
    );
  });
}
