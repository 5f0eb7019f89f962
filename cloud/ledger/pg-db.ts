import pg from 'pg';
import { isRetryableDbError, type Db, type Queryable, type QueryResult } from './db.ts';

// PostgreSQL adapter: a pg.Pool; each transaction holds one pooled client.

const INT8 = 20;

export interface PgDbOptions {
  connectionString: string;
  /** Pool size (default 8). */
  max?: number;
}

function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8) return (v: string) => Number(v);
  return pg.types.getTypeParser(oid, format as 'text');
}

export class PgDb implements Db {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;

  constructor(options: PgDbOptions) {
    this.#pool = new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 8, types: { getTypeParser: typeParser } as pg.CustomTypesConfig });
    // An idle client losing its connection must not crash the process.
    this.#pool.on('error', () => {});
  }

  async query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<QueryResult<R>> {
    const r = await this.#pool.query(sql, params);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.#pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      const tx: Queryable = {
        async query<R>(sql: string, params: unknown[] = []) {
          const r = await client.query(sql, params);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
      };
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        if (attempt < 5 && isRetryableDbError(err)) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
