import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type Postgres } from '../../harness/postgres.ts';
import { ledgerContractSuite } from './ledger.suite.ts';
import { PgDb } from './pg-db.ts';

// The same contract suite on a real PostgreSQL 15 cluster (Debian package),
// a fresh database per test.

let server: Postgres;
let n = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

ledgerContractSuite('PostgreSQL 15', {
  open: async () => new PgDb({ connectionString: await server.createDatabase(`ledger_${++n}`), max: 4 }),
});
