// The device side of a pseudo-terminal, for simulators. Spawns pty_bridge.py
// (python3's pty module: no native addon, no socat) and exposes the master
// side as an event emitter. See drivers/sim/README.md.
//
// Wire emulation: the kernel forces ptys to CS8 without parity
// (pty_set_termios), so data bits and parity cannot be read from termios. The
// pty therefore carries "8-bit wire characters": a 7E1/7O1 frame occupies the
// same 10 bit times as 8N1, so a 7-bit device's character is its 7 data bits
// with the parity bit as bit 7 — exactly what an 8N1 receiver samples. This
// port encodes the simulated device's output that way and masks its input to
// the device's data bits; SerialTransport does the same on the driver side
// (a no-op on a real UART). A 7E1 scale read at 8N1 thus shows bit 7 set, and
// an 8N1 device driven at 7E1 sees parity bits in its commands, as on a wire.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import type { Framing } from '../transports/uri.ts';
import { decodeWireChars, encodeWireChars } from '../transports/serial.ts';

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

export { encodeWireChars, decodeWireChars } from '../transports/serial.ts';

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

  /** Line settings the driver last set (baud is real; data bits/parity read as 8N1 on a pty, see above). */
  get line(): LineSettings | undefined {
    return this.#line;
  }

  get closed(): boolean {
    return this.#closed;
  }

  static async open(opts: PtyPortOptions = {}): Promise<PtyPort> {
    const args = [BRIDGE, ...(opts.link ? ['--link', opts.link] : [])];
    const child = spawn(opts.python ?? 'python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf: Buffer = Buffer.alloc(0);
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

  #fromHost(data: Buffer): Buffer {
    return this.framing ? decodeWireChars(data, this.framing) : data;
  }

  /** Send bytes to the driver, as the device would put them on the wire. */
  write(data: Uint8Array | string): void {
    if (this.#closed) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    this.#child.stdin.write(this.framing ? encodeWireChars(bytes, this.framing) : bytes);
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
