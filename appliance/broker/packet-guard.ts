// Refuses MQTT packets above a size limit before they are buffered.
//
// aedes hands bytes to mqtt-packet, which has no size limit for MQTT 3.1.1
// (only MQTT 5's Maximum Packet Size property) and buffers a packet until its
// remaining length — up to 256 MB (§2.2.3) — has arrived. This guard reads the
// fixed header of every packet as the bytes flow past (§2.2: one type byte,
// then a 1–4 byte variable-length "remaining length") and destroys the
// connection as soon as a header announces more than the limit. 3.1.1 has no
// reason code to send, so the connection is just closed (as Mosquitto does
// with message_size_limit).
import { Duplex } from 'node:stream';

export class PacketTooLargeError extends Error {
  readonly size: number;
  constructor(size: number, limit: number) {
    super(`MQTT packet of ${size} bytes exceeds the limit of ${limit}`);
    this.name = 'PacketTooLargeError';
    this.size = size;
  }
}

/** Incremental fixed-header scanner; feed() returns an error once a packet is too large or malformed. */
export class PacketSizeScanner {
  readonly #limit: number;
  #state: 'type' | 'length' | 'body' = 'type';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  feed(chunk: Buffer): Error | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'body') {
        const take = Math.min(this.#remaining, chunk.length - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#state === 'type') {
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#lengthBytes++;
      if (byte & 0x80) {
        if (this.#lengthBytes === 4) return new Error('malformed remaining length (§2.2.3)');
        continue;
      }
      const total = 1 + this.#lengthBytes + this.#length;
      if (total > this.#limit) return new PacketTooLargeError(total, this.#limit);
      this.#remaining = this.#length;
      this.#state = this.#remaining === 0 ? 'type' : 'body';
    }
    return undefined;
  }
}

/**
 * Wraps a connection: reads pass through the scanner, writes go straight to
 * the inner stream. Destroying either side destroys both.
 */
export class PacketGuardedStream extends Duplex {
  readonly #inner: Duplex;
  readonly #scanner: PacketSizeScanner;

  constructor(inner: Duplex, limit: number) {
    super({ allowHalfOpen: false });
    this.#inner = inner;
    this.#scanner = new PacketSizeScanner(limit);
    inner.on('data', (chunk: Buffer) => {
      const err = this.#scanner.feed(chunk);
      if (err) {
        this.destroy(err);
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#inner.write(chunk, encoding)) cb();
    else this.#inner.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#inner.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#inner.destroy();
    cb(err);
  }
}
