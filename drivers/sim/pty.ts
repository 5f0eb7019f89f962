// The device side of a pseudo-terminal, for simulators. Spawns pty_bridge.py
// (python3's pty module: no native addon, no socat) and exposes the master
// side as an event emitter. See drivers/sim/README.md.
//
// Wire emulation: a pty ignores data bits and parity, a real UART does not.
// When the simulated device's framing differs from what the driver set on the
// port (reported by the bridge from the slave's termios), bytes are rewritten
// the way a UART would see them: a 7E1 device read at 8N1 delivers its parity
// bit as bit 7; a character whose stop bit lands on a 0 is a framing error,
// read as NUL (Linux's default without IGNPAR/PARMRK, termios(3)).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import type { Framing } from '../transports/uri.ts';

const BRIDGE = fileURLToPath(new URL('./pty_bridge.py', import.meta.url));

export interface LineSettings {
  baud: number;
  dataBits: number;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits: number;
}

export interface PtyPortOptions {
  /** Framing of the simulated device; when set, mismatches with the driver's port settings are emulated. */
  framing?: Framing;
  /** Also expose the pty under this path (a symlink), e.g. a fake /dev/serial/by-id name. */
  link?: string;
  /** python3 executable; default 'python3' from PATH. */
  python?: string;
}

export interface PtyPortEvents {
  data: [chunk: Buffer];
  /** The driver changed the line settings (open, update). */
  line: [settings: LineSettings];
  close: [];
}

/** Bytes as a receiver with `rx` framing samples a sender with `tx` framing (start bit aligned, idle line = 1). */
export function wireTransfer(bytes: Uint8Array, tx: Framing, rx: Framing): Buffer {
  const same = tx.dataBits === rx.dataBits && tx.parity === rx.parity && tx.stopBits >= rx.stopBits;
  const mask = (1 << rx.dataBits) - 1;
  if (same) return Buffer.from(bytes.map((b) => b & mask));
  const out = Buffer.alloc(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]! & ((1 << tx.dataBits) - 1);
    const bits: number[] = [];
    for (let k = 0; k < tx.dataBits; k++) bits.push((b >> k) & 1);
    const p = parityBit(b, tx.parity);
    if (p !== undefined) bits.push(p);
    for (let s = 0; s < Math.ceil(tx.stopBits); s++) bits.push(1);
    const at = (k: number): number => bits[k] ?? 1;
    let v = 0;
    for (let k = 0; k < rx.dataBits; k++) v |= at(k) << k;
    const stopAt = rx.dataBits + (rx.parity === 'none' ? 0 : 1);
    // Parity errors are ignored as Linux does without INPCK (serialport's default); a framing error is NUL.
    out[i] = at(stopAt) === 1 ? v : 0;
  }
  return out;
}

function parityBit(b: number, parity: Framing['parity']): number | undefined {
  let ones = 0;
  for (let x = b; x; x >>= 1) ones += x & 1;
  switch (parity) {
    case 'none':
      return undefined;
    case 'even':
      return ones & 1;
    case 'odd':
      return (ones & 1) ^ 1;
    case 'mark':
      return 1;
    case 'space':
      return 0;
  }
}

export class PtyPort extends EventEmitter<PtyPortEvents> {
  /** /dev/pts/N — what a driver opens. */
  readonly path: string;
  readonly link: string | undefined;
  readonly framing: Framing | undefined;
  #child: ChildProcessByStdio<Writable, Readable, null>;
  #line: LineSettings | undefined;
  #closed = false;

  private constructor(child: ChildProcessByStdio<Writable, Readable, null>, path: string, link: string | undefined, framing: Framing | undefined) {
    super();
    this.#child = child;
    this.path = path;
    this.link = link;
    this.framing = framing;
  }

  /** Line settings the driver last set, or undefined before it opened the port. */
  get line(): LineSettings | undefined {
    return this.#line;
  }

  get closed(): boolean {
    return this.#closed;
  }

  static async open(opts: PtyPortOptions = {}): Promise<PtyPort> {
    const args = [BRIDGE, ...(opts.link ? ['--link', opts.link] : [])];
    const child = spawn(opts.python ?? 'python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = Buffer.alloc(0);
    let port: PtyPort | undefined;
    return await new Promise<PtyPort>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start the pty bridge (python3 ${BRIDGE}): ${err.message}`, { cause: err })));
      child.stdin.on('error', () => {}); // EPIPE after the bridge exits is expected on unplug
      child.once('exit', (code) => {
        if (!port) reject(new Error(`pty bridge exited with code ${code} before it was ready`));
        else if (!port.#closed) {
          port.#closed = true;
          port.emit('close');
        }
      });
      child.stdout.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 5) {
          const len = buf.readUInt32BE(1);
          if (buf.length < 5 + len) break;
          const kind = String.fromCharCode(buf[0]!);
          const payload = buf.subarray(5, 5 + len);
          buf = buf.subarray(5 + len);
          if (kind === 'R') {
            const ready = JSON.parse(payload.toString()) as { path: string; link: string | null };
            port = new PtyPort(child, ready.path, ready.link ?? undefined, opts.framing);
            resolve(port);
          } else if (kind === 'T' && port) {
            port.#line = JSON.parse(payload.toString()) as LineSettings;
            port.emit('line', port.#line);
          } else if (kind === 'D' && port) {
            port.emit('data', port.#fromHost(Buffer.from(payload)));
          }
        }
      });
    });
  }

  #hostFraming(): Framing | undefined {
    const l = this.#line;
    if (!l) return undefined;
    return { dataBits: l.dataBits as Framing['dataBits'], parity: l.parity, stopBits: l.stopBits as Framing['stopBits'] };
  }

  #fromHost(data: Buffer): Buffer {
    const host = this.#hostFraming();
    return this.framing && host ? wireTransfer(data, host, this.framing) : data;
  }

  /** Send bytes to the driver, as the device would put them on the wire. */
  write(data: Uint8Array | string): void {
    if (this.#closed) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    const host = this.#hostFraming();
    this.#child.stdin.write(this.framing && host ? wireTransfer(bytes, this.framing, host) : bytes);
  }

  /** Pull the plug: the master side closes, the driver's next read fails. Resolves when the bridge is gone. */
  async unplug(): Promise<void> {
    if (this.#closed) return;
    const gone = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.#child.stdin.end();
    await gone;
  }

  async close(): Promise<void> {
    await this.unplug();
  }
}
