// Refuses MQTT packets above a size limit before they are buffered.
//
// aedes hands bytes to mqtt-packet, which has no size limit for MQTT 3.1.1
// (only MQTT 5's Maximum Packet Size property) and buffers a packet until its
// remaining length — up to 256 MB (§2.2.3) — has arrived. This guard reads the
// fixed header of every packet as the bytes flow past (§2.2: one type byte,
// then a 1–4 byte variable-length "remaining length") and destroys the
// connection as soon as a header announces more than the limit. 3.1.1 has no
// reason code to send, so the connection is just closed (as Mosquitto does
// with message_size_limit). The scan hooks the connection's own push() (see
// guardPacketSize) instead of adding a stream layer.
import type { Duplex } from 'node:stream';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';

export class PacketTooLargeError extends TillboxError {
  readonly size: number;
  constructor(size: number, limit: number) {
    super(ErrorCode.PacketTooLarge, `MQTT packet of ${size} bytes exceeds the limit of ${limit}`, { detail: { size, limit } });
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
 * Scans every chunk the connection receives, at the point it arrives: the
 * stream's own push(), through which net/tls sockets (onStreamRead) and ws'
 * createWebSocketStream hand incoming bytes to the readable side. A chunk whose
 * header announces a packet above the limit is never pushed; the connection is
 * destroyed with a PacketTooLargeError instead. Patching the instance rather
 * than piping through a wrapping Duplex keeps one stream layer (and its
 * per-chunk buffering and per-write callbacks) out of every read and write.
 */
export function guardPacketSize(stream: Duplex, limit: number): void {
  const scanner = new PacketSizeScanner(limit);
  const push = stream.push;
  stream.push = function guardedPush(this: Duplex, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : (chunk as Buffer);
      const err = scanner.feed(buf);
      if (err) {
        this.destroy(err);
        return false;
      }
    }
    return push.call(this, chunk, encoding);
  };
}
