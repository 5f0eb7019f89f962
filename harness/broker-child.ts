// A broker in its own process, for kill -9 tests and the benchmark. argv[2]:
// JSON { stateDir, accounts?, anonymous?, sync?, stock? }. Prints one JSON line
// with the bound addresses once listening.
//
// stock: true runs the bench baseline instead: the same aedes 1.x, stock, with
// its default in-memory persistence (nothing stored on disk, no tillbox ACL,
// guards or patches), on a loopback TCP listener with TCP_NODELAY like ours.
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { LocalBroker, DEFAULT_LIMITS } from '../appliance/broker/broker.ts';
import { createRootLogger, silentLogger } from '../appliance/log.ts';

const cfg = JSON.parse(process.argv[2] ?? '{}') as {
  stateDir: string;
  port?: number;
  accounts?: Array<{ username: string; password: string; role: 'core' | 'devices' | 'flows' | 'kiosk' | 'admin' }>;
  sync?: 'batch' | 'never';
  /** Overrides of DEFAULT_LIMITS (e.g. a larger offline queue for tests that queue more than 1,000). */
  limits?: Partial<typeof DEFAULT_LIMITS>;
  stock?: boolean;
};

if (cfg.stock) {
  const aedes = await Aedes.createBroker({ id: 'bench-stock' });
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(cfg.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, id: aedes.id, addresses: { tcp: { host: '127.0.0.1', port } } })}\n`);
  process.on('SIGTERM', () => {
    server.close();
    aedes.close(() => process.exit(0));
  });
} else {
  await startLocal();
}

async function startLocal(): Promise<void> {
  const broker = new LocalBroker({
    stateDir: cfg.stateDir,
    storeId: 'S1',
    // BROKER_CHILD_LOG=debug writes the broker's log to stderr when debugging a test.
    log: process.env.BROKER_CHILD_LOG ? createRootLogger({ level: process.env.BROKER_CHILD_LOG, destination: process.stderr }) : silentLogger(),
    accounts: cfg.accounts ?? [],
    tcp: { host: '127.0.0.1', port: cfg.port ?? 0 },
    anonymousLoopback: { enabled: true, role: 'core' },
    tls: { enabled: false, host: '127.0.0.1', port: 0 },
    ws: { enabled: false, host: '127.0.0.1', port: 0, tls: false },
    limits: { ...DEFAULT_LIMITS, ...cfg.limits },
    persistence: { sync: cfg.sync ?? 'batch' },
  });
  await broker.start();
  process.stdout.write(`${JSON.stringify({ ready: true, id: broker.id, addresses: broker.addresses })}\n`);
  process.on('SIGTERM', () => {
    void broker.stop().then(() => process.exit(0));
  });
}
