import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nodeFlags } from '../appliance/cli/node-flags.ts';
import { startPostgres, type Postgres } from './postgres.ts';
import type { CloudHq, HistoryEvent } from './history.ts';

// The reference HQ (cloud/, `tillbox-hq`) in its own process, on PGlite or a
// real PostgreSQL 15, for the end-to-end sync tests. Its own process so that
// kill -9 is a real crash (HQ_TEST_KILL_AFTER_COMMIT: SIGKILL right after a
// batch COMMIT, before its ack) and so it does not share the test's event loop.

const ROOT = resolve(import.meta.dirname, '..');

export interface RealHq extends CloudHq {
  readonly httpUrl: string;
  /** HQ_DATA_DIR (PGlite, the EST registry and CA when generated). */
  readonly dataDir: string;
  /** The HQ process id (while it runs), for memory figures. */
  readonly pid: number | undefined;
  /** Resolves when the process exited (kill-after-commit fault). */
  exited(): Promise<number | null>;
  output(): string;
  /** Starts HQ again on the same database (after a crash), optionally with other env. */
  restart(env?: Record<string, string>): Promise<void>;
  kill(): Promise<void>;
}

export async function startRealHq(brokerUrl: string, db: 'pglite' | 'postgres', env: Record<string, string> = {}): Promise<RealHq> {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-hq-'));
  let pg: Postgres | undefined;
  let databaseUrl: string | undefined;
  if (db === 'postgres') {
    pg = await startPostgres();
    databaseUrl = await pg.createDatabase('hq');
  }
  let child: ChildProcess | undefined;
  let out = '';
  let exit: Promise<number | null> = Promise.resolve(null);
  let httpUrl = '';

  const launch = async (extra: Record<string, string>) => {
    out = '';
    // With HQ's V8 flags, as bin/tillbox-hq runs it.
    const c = spawn(process.execPath, [...nodeFlags('hq'), join(ROOT, 'cloud/hq/main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        HQ_MQTT_URL: brokerUrl,
        HQ_DATA_DIR: dir,
        HQ_HTTP_PORT: '0',
        HQ_LOG_LEVEL: 'warn',
        ...(databaseUrl ? { HQ_DATABASE_URL: databaseUrl } : {}),
        ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    exit = new Promise((r) => c.once('exit', (code) => r(code)));
    const t0 = Date.now();
    for (;;) {
      const m = /tillbox-hq ready http=(\S+)/.exec(out);
      if (m) {
        httpUrl = m[1]!;
        return;
      }
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`HQ exited during start:\n${out}`);
      if (Date.now() - t0 > 60_000) throw new Error(`HQ did not start in 60 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    await launch(env);
  } catch (err) {
    // HQ refused to start (bad flags, a migration error): the cluster and dir it got go too.
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${httpUrl}${path}`);
    if (!r.ok) throw new Error(`HQ ${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exit;
  };

  return {
    get httpUrl() {
      return httpUrl;
    },
    dataDir: dir,
    get pid() {
      return child?.pid;
    },
    output: () => out,
    exited: () => exit,
    async restart(extra = {}) {
      await halt('SIGKILL');
      await launch(extra);
    },
    kill: () => halt('SIGKILL'),
    async watermark(deviceId) {
      const devices = await get<Array<{ deviceId: string; lastAppliedSeq: number }>>('/api/v1/devices');
      return devices.find((d) => d.deviceId === deviceId)?.lastAppliedSeq ?? 0;
    },
    async events(deviceId) {
      const all: HistoryEvent[] = [];
      let after = 0;
      for (;;) {
        const { events } = await get<{ events: Array<{ id: string; seq: number; deviceId: string }> }>(`/api/v1/devices/${encodeURIComponent(deviceId)}/events?after=${after}&limit=1000`);
        if (events.length === 0) return all;
        for (const e of events) all.push({ id: e.id, seq: e.seq, deviceId: e.deviceId });
        after = events[events.length - 1]!.seq;
      }
    },
    async inventory(storeId) {
      const { inventory } = await get<{ inventory: Array<{ sku: string; delta: number }> }>(`/api/v1/inventory?storeId=${encodeURIComponent(storeId)}`);
      return new Map(inventory.map((i) => [i.sku, i.delta]));
    },
    async conflicts() {
      const { conflicts } = await get<{ conflicts: Array<{ kind: string; eventId: string; deviceId: string; sku?: string; status: string }> }>('/api/v1/conflicts?limit=10000');
      return conflicts;
    },
    async stop() {
      await halt('SIGTERM');
      await pg?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
