// Raw TCP transport: remote serial servers (zwave-js accepts tcp://host:port
// as a serial path the same way) and network printers on 9100. The socket
// factory is injectable so tests can hand a duplex pair or a refusing stub.
import { createConnection, type Socket, type NetConnectOpts } from 'node:net';
import { TransportBase, TransportError, TransportErrorCode, toBuffer, type TransportContext } from './transport.ts';

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** Default 5000 ms. An unreachable host must not hang open(). */
  connectTimeoutMs?: number;
  /** TCP keepalive so a silently dead peer (power cut) is noticed; default 10 s. */
  keepAliveMs?: number;
  connect?: (opts: NetConnectOpts) => Socket;
  uri?: string;
}

export class TcpTransport extends TransportBase {
  readonly kind = 'tcp' as const;
  readonly host: string;
  readonly port: number;
  readonly #timeout: number;
  readonly #keepAlive: number;
  readonly #connect: (opts: NetConnectOpts) => Socket;
  #socket: Socket | undefined;
  #closing = false;

  constructor(opts: TcpTransportOptions, ctx: TransportContext = {}) {
    super(opts.uri ?? `tcp://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`, ctx);
    this.host = opts.host;
    this.port = opts.port;
    this.#timeout = opts.connectTimeoutMs ?? 5000;
    this.#keepAlive = opts.keepAliveMs ?? 10_000;
    this.#connect = opts.connect ?? createConnection;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    this.#closing = false;
    const socket = this.#connect({ host: this.host, port: this.port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TransportError(TransportErrorCode.Timeout, `connect to ${this.host}:${this.port} timed out after ${this.#timeout} ms`));
      }, this.#timeout);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new TransportError(TransportErrorCode.OpenFailed, `cannot connect to ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve();
      });
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.#keepAlive);
    this.#socket = socket;
    let lastError: Error | undefined;
    socket.on('data', (chunk: Buffer) => this.emitData(chunk));
    socket.on('error', (err) => {
      lastError = err;
    });
    // The peer ending the stream is a disconnect too: a printer or serial server rebooting.
    socket.on('end', () => socket.end());
    socket.on('close', () => {
      this.#socket = undefined;
      const disconnected = !this.#closing;
      this.emitClose(lastError ? { disconnected, error: lastError } : { disconnected });
    });
    this.markOpen();
  }

  async close(): Promise<void> {
    const socket = this.#socket;
    if (!socket) return;
    this.#closing = true;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      // A peer that never FINs back must not block close().
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  async write(data: Uint8Array | string): Promise<void> {
    const socket = this.#socket;
    if (!socket || !this.isOpen) throw new TransportError(TransportErrorCode.NotOpen, `${this.uri} is not open`);
    const buf = toBuffer(data);
    this.logWrite(buf);
    await new Promise<void>((resolve, reject) => {
      socket.write(buf, (err) => {
        if (err) reject(new TransportError(TransportErrorCode.Disconnected, `write to ${this.uri} failed: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }
}
