import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';

// PGlite adapter: Postgres compiled to WASM, in process, one connection.
// Its transactions are serialized by PGlite itself, so FOR UPDATE is a no-op
// that keeps the SQL identical to the PostgreSQL adapter's.

const INT8 = 20;

export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  readonly #db: PGlite;

  /** `dataDir` undefined = in memory (tests); a path = persistent (the demo). */
  constructor(dataDir?: string) {
    this.#db = new PGlite(dataDir, { parsers: { [INT8]: (v: string) => Number(v) } });
  }

  async query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<QueryResult<R>> {
    const r = await this.#db.query<R>(sql, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.#db.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#db.transaction(async (t) => {
      const tx: Queryable = {
        async query<R>(sql: string, params: unknown[] = []) {
          const r = await t.query<R>(sql, params);
          return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
        },
      };
      return fn(tx);
    });
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}
