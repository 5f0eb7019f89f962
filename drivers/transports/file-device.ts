// Device-file transport: /dev/usb/lp* (the kernel usblp driver) and other
// character devices a printer shows up as. Writes go straight to the fd; a
// read loop delivers the printer's replies (usblp passes the bulk IN data
// through when the printer is bidirectional). EIO/ENODEV/ENXIO = unplugged.
import { open, type FileHandle } from 'node:fs/promises';
import { TransportBase, TransportError, TransportErrorCode, toBuffer, type TransportContext } from './transport.ts';

export interface FileTransportOptions {
  path: string;
  /** Read the device for status replies (bidirectional printers). Default true. */
  read?: boolean;
  uri?: string;
}

const GONE = new Set(['EIO', 'ENODEV', 'ENXIO', 'ENOENT', 'EBADF']);

export class FileTransport extends TransportBase {
  readonly kind = 'file' as const;
  readonly path: string;
  readonly #read: boolean;
  #fh: FileHandle | undefined;
  #closing = false;

  constructor(opts: FileTransportOptions, ctx: TransportContext = {}) {
    super(opts.uri ?? `file://${opts.path}`, ctx);
    this.path = opts.path;
    this.#read = opts.read ?? true;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    try {
      this.#fh = await open(this.path, this.#read ? 'r+' : 'w');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TransportError(TransportErrorCode.OpenFailed, `cannot open ${this.path}: ${code ?? String(err)}`, { cause: err, retryable: code !== 'EACCES' });
    }
    this.#closing = false;
    this.markOpen();
    if (this.#read) void this.#readLoop(this.#fh);
  }

  async #readLoop(fh: FileHandle): Promise<void> {
    const buf = Buffer.alloc(256);
    // A blocking read holds one libuv pool thread while the printer is quiet; acceptable for one printer.
    while (this.#fh === fh) {
      try {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead > 0) this.emitData(Buffer.from(buf.subarray(0, bytesRead)));
        else await new Promise((r) => setTimeout(r, 20)); // usblp returns 0 when no status is pending
      } catch (err) {
        if (!this.#closing) this.#lost(err as Error);
        return;
      }
    }
  }

  #lost(error: Error): void {
    const fh = this.#fh;
    this.#fh = undefined;
    void fh?.close().catch(() => {});
    this.emitClose({ disconnected: true, error });
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    if (!fh) return;
    this.#closing = true;
    this.#fh = undefined;
    await fh.close().catch(() => {});
    this.emitClose({ disconnected: false });
  }

  async write(data: Uint8Array | string): Promise<void> {
    const fh = this.#fh;
    if (!fh || !this.isOpen) throw new TransportError(TransportErrorCode.NotOpen, `${this.uri} is not open`);
    const buf = toBuffer(data);
    this.logWrite(buf);
    try {
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off, null)).bytesWritten;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const e = new TransportError(GONE.has(code) ? TransportErrorCode.Disconnected : TransportErrorCode.WriteFailed, `write to ${this.path} failed: ${code || String(err)}`, { cause: err });
      if (GONE.has(code)) this.#lost(e);
      throw e;
    }
  }
}
