// In-memory transport for unit tests (the MockBinding idea at the Transport
// level): the test plays the device with receive()/unplug() and reads what the
// driver wrote from `written`. An optional responder answers writes like a
// device would, synchronously or not.
import { TransportBase, TransportError, TransportErrorCode, toBuffer, type TransportContext } from './transport.ts';

export interface MockTransportOptions {
  uri?: string;
  /** Called for each write; return bytes to send back (delivered on a later tick). */
  respond?: (written: Buffer) => Uint8Array | string | undefined;
  /** Make open() fail with this message. */
  failOpen?: string;
}

export class MockTransport extends TransportBase {
  readonly kind = 'mock' as const;
  readonly written: Buffer[] = [];
  #respond: MockTransportOptions['respond'];
  #failOpen: string | undefined;

  constructor(opts: MockTransportOptions = {}, ctx: TransportContext = {}) {
    super(opts.uri ?? 'mock://device', ctx);
    this.#respond = opts.respond;
    this.#failOpen = opts.failOpen;
  }

  set respond(fn: MockTransportOptions['respond']) {
    this.#respond = fn;
  }

  async open(): Promise<void> {
    if (this.#failOpen) throw new TransportError(TransportErrorCode.OpenFailed, this.#failOpen);
    this.markOpen();
  }

  async close(): Promise<void> {
    this.emitClose({ disconnected: false });
  }

  async write(data: Uint8Array | string): Promise<void> {
    if (!this.isOpen) throw new TransportError(TransportErrorCode.NotOpen, `${this.uri} is not open`);
    const buf = Buffer.from(toBuffer(data));
    this.written.push(buf);
    const reply = this.#respond?.(buf);
    if (reply !== undefined) setImmediate(() => this.isOpen && this.emitData(toBuffer(reply)));
  }

  /** The device sends bytes. */
  receive(data: Uint8Array | string): void {
    if (this.isOpen) this.emitData(Buffer.from(toBuffer(data)));
  }

  /** The device goes away. */
  unplug(error: Error = new Error('EIO: device unplugged')): void {
    this.emitClose({ disconnected: true, error });
  }
}
