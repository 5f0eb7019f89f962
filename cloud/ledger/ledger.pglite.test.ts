import { afterAll, beforeAll } from 'vitest';
import type { Db } from './db.ts';
import { ledgerContractSuite } from './ledger.suite.ts';
import { PgliteDb } from './pglite-db.ts';

// The ledger contract on PGlite. Starting PGlite (WASM) costs seconds on a
// shared 2-core machine, so one instance serves the file and each test gets
// an empty `public` schema instead of a new instance.

let shared: PgliteDb | undefined;
beforeAll(async () => {
  shared = new PgliteDb();
  await shared.exec('SELECT 1');
}, 120_000);
afterAll(async () => {
  await shared?.close();
});

ledgerContractSuite('PGlite', {
  async open(): Promise<Db> {
    shared ??= new PgliteDb();
    await shared.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP TABLE IF EXISTS hq_schema;');
    const db = shared;
    return {
      kind: db.kind,
      query: (sql, params) => db.query(sql, params),
      transaction: (fn) => db.transaction(fn),
      exec: (sql) => db.exec(sql),
      close: async () => {},
    };
  },
});
