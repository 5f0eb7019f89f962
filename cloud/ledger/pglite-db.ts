import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';

// PGlite adapter: Postgres compiled to WASM, in process, one connection.
// Its transactions are serialized by PGlite itself, so FOR UPDATE is a no-op
// that keeps the SQL identical to the PostgreSQL adapter's.
//
// Creating a fresh PGlite cluster runs initdb inside WASM, which takes many
// seconds on a small machine. The first fresh cluster is dumped to a
// template (a tarball in the OS temp dir, per user and PGlite build), and
// later fresh clusters start from it (loadDataDir): an empty cluster either
// way, reached several times faster. An existing data dir is just opened.

const INT8 = 20;
const parsers = { [INT8]: (v: string) => Number(v) };

function templatePath(): string | undefined {
  try {
    const main = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
    const st = statSync(main);
    return join(tmpdir(), `tillbox-pglite-template-${userInfo().uid}-${st.size}-${Math.floor(st.mtimeMs)}.tgz`);
  } catch {
    return undefined;
  }
}

function readTemplate(path: string | undefined): Blob | undefined {
  if (!path || !existsSync(path)) return undefined;
  try {
    const st = statSync(path);
    // Only a template this user wrote (the temp dir is shared).
    if (st.uid !== userInfo().uid) return undefined;
    return new Blob([readFileSync(path)]);
  } catch {
    return undefined;
  }
}

async function writeTemplate(db: PGlite, path: string): Promise<void> {
  const dump = await db.dumpDataDir('gzip');
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()), { mode: 0o600 });
  renameSync(tmp, path);
}

async function open(dataDir: string | undefined, useTemplate: boolean): Promise<PGlite> {
  const fresh = dataDir === undefined || !existsSync(join(dataDir, 'PG_VERSION'));
  const path = useTemplate && fresh ? templatePath() : undefined;
  const template = readTemplate(path);
  if (template) {
    try {
      const db = new PGlite(dataDir, { parsers, loadDataDir: template });
      await db.waitReady;
      return db;
    } catch {
      // A template this PGlite cannot load: drop it and initdb as usual.
      if (path) unlinkSync(path);
    }
  }
  const db = new PGlite(dataDir, { parsers });
  await db.waitReady;
  if (path) await writeTemplate(db, path).catch(() => {});
  return db;
}

export interface PgliteDbOptions {
  /** Start fresh clusters from the cached template (default true). */
  template?: boolean;
}

export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  readonly #dataDir: string | undefined;
  readonly #template: boolean;
  #opening: Promise<PGlite> | undefined;

  /** `dataDir` undefined = in memory (tests); a path = persistent (the demo). Opens on first use. */
  constructor(dataDir?: string, options: PgliteDbOptions = {}) {
    this.#dataDir = dataDir;
    this.#template = options.template ?? true;
  }

  get #db(): Promise<PGlite> {
    this.#opening ??= open(this.#dataDir, this.#template);
    return this.#opening;
  }

  /** Opens the cluster now (queries open it on demand anyway). */
  async ready(): Promise<void> {
    await this.#db;
  }

  async query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<QueryResult<R>> {
    const r = await (await this.#db).query<R>(sql, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await (await this.#db).exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return (await this.#db).transaction(async (t) => {
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
    const opening = this.#opening;
    if (opening) await (await opening).close();
  }
}
