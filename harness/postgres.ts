import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

// A throwaway PostgreSQL 15 cluster (Debian package) for tests: initdb into a
// temp dir, a free port on 127.0.0.1, the unix socket in the same temp dir,
// trust auth, fsync off. initdb refuses to run as root, so under root (CI)
// both initdb and postgres run as the `postgres` user through runuser, in a
// dir it owns.
//
// Used by HQ's ledger tests and by end-to-end sync tests. In CI these must
// run, never skip: missing binaries are a failure naming the setup script.

export const PG_BIN_DIR = process.env.TILLBOX_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

export interface Postgres {
  port: number;
  /** postgres://postgres@127.0.0.1:{port}/postgres */
  url: string;
  dir: string;
  /** Creates a fresh database and returns its URL (isolates test cases in one cluster). */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown, then removes the temp dir. */
  stop(): Promise<void>;
}

export function requirePostgres(): void {
  for (const b of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(PG_BIN_DIR, b))) {
      throw new Error(`PostgreSQL 15 binary ${b} not found in ${PG_BIN_DIR}: install the Debian packages with scripts/setup-system.sh (as root)`);
    }
  }
}

function run(asPostgres: boolean, bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const [cmd, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN_DIR, bin), ...args]] : [join(PG_BIN_DIR, bin), args];
  return new Promise((resolve, reject) => {
    const c = spawn(cmd as string, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' } });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => resolve({ code, out }));
  });
}

/** Starts a throwaway PostgreSQL 15 cluster; call stop() when done. */
export async function startPostgres(): Promise<Postgres> {
  requirePostgres();
  const asPostgres = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-pg-'));
  if (asPostgres) {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (uid.status !== 0) throw new Error('running as root but there is no `postgres` user: install PostgreSQL with scripts/setup-system.sh');
    chownSync(dir, Number(uid.stdout.trim()), Number(gid.stdout.trim()));
  }
  const data = join(dir, 'data');
  const init = await run(asPostgres, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  if (init.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}):\n${init.out}`);
  }
  let port = 0;
  let lastOut = '';
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=16MB`;
    const start = await run(asPostgres, 'pg_ctl', ['-D', data, '-l', join(dir, 'postgres.log'), '-o', opts, '-w', '-t', '60', 'start']);
    if (start.code === 0) break;
    lastOut = start.out;
    if (attempt >= 4) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres failed to start:\n${lastOut}`);
    }
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    port,
    url,
    dir,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name ${name}`);
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await run(asPostgres, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
