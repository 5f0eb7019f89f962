// Serial transport over serialport's stream with the binding injected per
// instance (never serialport's global default): production passes
// @serialport/bindings-cpp, unit tests MockBinding, scenario tests the real
// binding against a simulator's pseudo-terminal.
import { read as fsRead } from 'node:fs';
import { promisify } from 'node:util';
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '@serialport/bindings-cpp';
import { TransportBase, TransportError, TransportErrorCode, toBuffer, type TransportContext } from './transport.ts';
import { formatFraming, type Framing } from './uri.ts';

/**
 * 7-bit framings in software. On a real UART with CS7 the hardware drops bit 7
 * on transmit and never sets it on receive, so this is a no-op there; on a
 * pseudo-terminal (forced to CS8 by the kernel) it makes the byte stream what
 * an 8-bit receiver would sample from a 7E1/7O1 wire: data bits + parity as bit 7.
 */
export function encodeWireChars(bytes: Uint8Array, f: Framing): Buffer {
  const out = Buffer.from(bytes);
  if (f.dataBits !== 7) return out;
  for (let i = 0; i < out.length; i++) {
    const b = out[i]! & 0x7f;
    let ones = 0;
    for (let x = b; x; x >>= 1) ones += x & 1;
    const p = f.parity === 'even' ? ones & 1 : f.parity === 'odd' ? (ones & 1) ^ 1 : f.parity === 'mark' ? 1 : 0;
    out[i] = b | (p << 7);
  }
  return out;
}

/** Receive side of encodeWireChars: keep the data bits (parity errors ignored, as Linux does without INPCK). */
export function decodeWireChars(bytes: Uint8Array, f: Framing): Buffer {
  const out = Buffer.from(bytes);
  if (f.dataBits >= 8) return out;
  const mask = (1 << f.dataBits) - 1;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! & mask;
  return out;
}

const readAsync = promisify(fsRead);

interface UnixPort {
  fd: number | null;
  isOpen: boolean;
  poller?: { once(ev: 'readable', cb: (err: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

/**
 * bindings-cpp's unix read retries forever when read(2) returns 0, which is
 * what a hung-up tty returns after an unplug (and a pty after its master
 * closes): a busy loop and no 'close'. The port is opened O_NONBLOCK, so "no
 * data" is EAGAIN, never 0 — 0 means hang-up. This wrapper reads the same fd
 * the same way but turns EOF into a disconnect error. Ports without an fd
 * (MockBinding, Windows) are left alone.
 */
export function hangupAwareBinding(binding: BindingInterface): BindingInterface {
  return {
    list: () => binding.list(),
    async open(options) {
      const port = await binding.open(options);
      const p = port as unknown as UnixPort;
      if (typeof p.fd === 'number' && p.poller) {
        p.read = async function read(buffer, offset, length) {
          for (;;) {
            if (!p.isOpen || p.fd === null) throw Object.assign(new Error('Port is not open'), { canceled: true });
            try {
              const { bytesRead } = await readAsync(p.fd, buffer, offset, length, null);
              if (bytesRead === 0) throw Object.assign(new Error('serial device hung up (EOF)'), { code: 'EOF', disconnect: true });
              return { bytesRead, buffer };
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code;
              if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw err;
              // The port may have been closed while the read was in flight: its native
              // poller is then destroyed, and polling it again segfaults the process
              // (napi_unwrap in Poller::poll). Re-check synchronously before polling,
              // as bindings-cpp's own unixRead does.
              if (!p.isOpen || p.fd === null) throw Object.assign(new Error('Port is not open'), { canceled: true });
              await new Promise<void>((resolve, reject) => p.poller!.once('readable', (e) => (e ? reject(e) : resolve())));
            }
          }
        };
      }
      return port;
    },
  } as BindingInterface;
}

export interface SerialTransportOptions {
  path: string;
  baudRate: number;
  framing?: Framing;
  rtscts?: boolean;
  /** e.g. `autoDetect()` from @serialport/bindings-cpp, or MockBinding. */
  binding: BindingInterface;
  /** Shown in logs and state payloads; defaults to serial://path?baud=...&framing=... */
  uri?: string;
}

export class SerialTransport extends TransportBase {
  readonly kind = 'serial' as const;
  readonly path: string;
  readonly baudRate: number;
  readonly framing: Framing;
  readonly #rtscts: boolean;
  readonly #binding: BindingInterface;
  #port: SerialPortStream | undefined;
  #closing = false;

  constructor(opts: SerialTransportOptions, ctx: TransportContext = {}) {
    const framing = opts.framing ?? { dataBits: 8, parity: 'none', stopBits: 1 };
    super(opts.uri ?? `serial://${opts.path}?baud=${opts.baudRate}&framing=${formatFraming(framing)}`, ctx);
    this.path = opts.path;
    this.baudRate = opts.baudRate;
    this.framing = framing;
    this.#rtscts = opts.rtscts ?? false;
    this.#binding = hangupAwareBinding(opts.binding);
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    const port = new SerialPortStream({
      binding: this.#binding,
      path: this.path,
      baudRate: this.baudRate,
      dataBits: this.framing.dataBits,
      parity: this.framing.parity,
      stopBits: this.framing.stopBits,
      rtscts: this.#rtscts,
      autoOpen: false,
    });
    // Registered before open so an early error cannot become an unhandled 'error' event.
    port.on('error', (err: Error) => {
      this.logger?.warn({ err, uri: this.uri }, 'serial port error');
      if (this.listenerCount('error') > 0) this.safeEmit('error', err);
    });
    await new Promise<void>((resolve, reject) => {
      port.open((err) => {
        if (err) reject(new TransportError(TransportErrorCode.OpenFailed, `cannot open ${this.path}: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
    this.#port = port;
    port.on('data', (chunk: Buffer) => this.emitData(this.framing.dataBits < 8 ? decodeWireChars(chunk, this.framing) : chunk));
    // serialport closes the stream itself on a read/write error that is not a
    // cancel (EIO/EBADF on unplug) and passes a DisconnectedError here; on a
    // hung-up pty the read may instead return EOF and the stream ends with no
    // error. Either way: a close we did not ask for is a disconnect.
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      this.#port = undefined;
      const disconnected = !this.#closing;
      this.#closing = false;
      this.emitClose(err ? { disconnected, error: err } : { disconnected });
    });
    this.markOpen();
  }

  async close(): Promise<void> {
    const port = this.#port;
    if (!port?.isOpen) return;
    this.#closing = true;
    await new Promise<void>((resolve) => {
      port.close(() => resolve());
    });
    // 'close' listener above emits the transport close.
  }

  async write(data: Uint8Array | string): Promise<void> {
    const port = this.#port;
    if (!port || !this.isOpen || !port.isOpen) throw new TransportError(TransportErrorCode.NotOpen, `${this.path} is not open`);
    const buf = this.framing.dataBits < 8 ? encodeWireChars(toBuffer(data), this.framing) : toBuffer(data);
    this.logWrite(buf);
    // serialport queues a write made while the port is closing until the next
    // 'open', which never comes after an unplug: settle on close instead.
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new TransportError(TransportErrorCode.Disconnected, `${this.path} closed during write`));
      this.once('close', onClose);
      port.write(buf, (err) => {
        this.off('close', onClose);
        if (err)
          reject(
            new TransportError(
              (err as { disconnected?: boolean }).disconnected || !this.isOpen ? TransportErrorCode.Disconnected : TransportErrorCode.WriteFailed,
              `write to ${this.path} failed: ${err.message}`,
              { cause: err },
            ),
          );
        else resolve();
      });
    });
  }
}
