// The ledger's only view of a database: a query function and a transaction.
// Two adapters implement it with the same SQL text: PostgreSQL through `pg`
// (production) and PGlite (the embedded demo). bigint columns come back as
// JS numbers (seqs and versions stay far below 2^53), jsonb as parsed values,
// timestamptz as Date.

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it
   * throws. Deadlocks and serialization failures are retried a few times
   * (fn must be safe to run again: it only touches the database).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Several statements, no parameters (schema setup). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** SQLSTATEs worth retrying a whole transaction for. */
export const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

export function isRetryableDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_SQLSTATES.has(code);
}
