import { createServer, connect, type Server, type Socket } from 'node:net';

// A TCP proxy between the box and the cloud broker that a test can cut and
// restore: `reset` destroys every connection and refuses new ones (a cable
// pulled at the router); `blackhole` keeps sockets open but forwards nothing
// (a silent partition: only keepalives and ack timeouts notice).

export type CutMode = 'reset' | 'blackhole';

export class PartitionProxy {
  readonly #target: { host: string; port: number };
  #server: Server | undefined;
  readonly #pairs = new Set<[Socket, Socket]>();
  #mode: CutMode | null = null;
  cuts = 0;

  constructor(target: { host?: string; port: number }) {
    this.#target = { host: target.host ?? '127.0.0.1', port: target.port };
  }

  get port(): number {
    return (this.#server?.address() as { port: number } | null)?.port ?? 0;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.#mode !== null;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  #accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.#mode === 'reset') {
      client.destroy();
      return;
    }
    if (this.#mode === 'blackhole') {
      client.pause(); // accepted, never answered
      const drop = () => client.destroy();
      this.#blackholed.add(drop);
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('data', (d) => {
      if (this.#mode === null) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (this.#mode === null) client.write(d);
    });
  }

  readonly #blackholed = new Set<() => void>();

  /** Partitions the link. */
  cut(mode: CutMode = 'reset'): void {
    this.cuts += 1;
    this.#mode = mode;
    if (mode === 'reset') for (const [a, b] of this.#pairs) a.destroy(), b.destroy();
  }

  /** Heals it: blackholed sockets are dropped so the client reconnects. */
  restore(): void {
    for (const [a, b] of this.#mode === 'blackhole' ? this.#pairs : []) a.destroy(), b.destroy();
    for (const drop of this.#blackholed) drop();
    this.#blackholed.clear();
    this.#mode = null;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.#pairs) a.destroy(), b.destroy();
    for (const drop of this.#blackholed) drop();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
