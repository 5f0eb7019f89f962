import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeFlags } from '../appliance/cli/node-flags.ts';

// A real box in a child process (`tillbox start --demo`), on free ports and
// its own state dir, for integration tests, crash tests and benchmarks.

const ROOT = resolve(import.meta.dirname, '..');

export interface BoxProcess {
  child: ChildProcess;
  port: number;
  stateDir: string;
  readyMs: number;
  /** Everything the box printed (stdout and stderr). */
  output(): string;
  /** SIGTERM, wait, and remove the state dir if startBox created it. */
  stop(): Promise<void>;
  /** SIGKILL (crash tests); keeps the state dir. */
  kill(): Promise<void>;
}

/** Where the box's code is: this checkout (TypeScript), or a compiled copy (bench/compiled.ts). */
export interface BoxCode {
  root: string;
  /** appliance/cli/main.js in a compiled copy, main.ts in a checkout. */
  ext: '.ts' | '.js';
}

export const CHECKOUT: BoxCode = { root: ROOT, ext: '.ts' };

/** Starts a demo box on free ports in its own state dir and waits for /healthz (with core's V8 flags, bin/node-flags). */
export async function startBox(stateDir?: string, extraEnv: Record<string, string> = {}, code: BoxCode = CHECKOUT): Promise<BoxProcess> {
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), 'tillbox-bench-'));
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeFlags('core', join(code.root, 'bin/node-flags')), join(code.root, `appliance/cli/main${code.ext}`), 'core', '--demo'], {
    cwd: code.root,
    env: { ...process.env, TILLBOX_STATE_DIR: dir, TILLBOX_HTTP_PORT: '0', TILLBOX_MQTT_PORT: '0', TILLBOX_MQTT_WS_PORT: '0', TILLBOX_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let port = 0;
  for (;;) {
    const m = /HTTP API\s+http:\/\/[^:]+:(\d+)/.exec(out);
    if (m) {
      port = Number(m[1]);
      break;
    }
    if (child.exitCode !== null) throw new Error(`box exited with ${child.exitCode}:\n${out}`);
    if (performance.now() - t0 > 30_000) throw new Error(`box did not start in 30 s:\n${out}`);
    await sleep(5);
  }
  const readyMs = Math.round(performance.now() - t0);
  return {
    child,
    port,
    stateDir: dir,
    readyMs,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (!stateDir) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

/** One HTTP request to a box on loopback, keep-alive, no retries. */
export function call(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const h: Record<string, string | number> = { ...headers };
  if (data !== undefined) {
    h['content-type'] ??= 'application/json';
    h['content-length'] = Buffer.byteLength(data);
  }
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent, headers: h }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        res({ status: r.statusCode ?? 0, headers: r.headers, body: text, json: () => JSON.parse(text) });
      });
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(data);
  });
}

export function postSale(port: number, key: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return call(port, 'POST', '/api/v1/sales', body, { ...headers, 'idempotency-key': key });
}

/** Reads the whole journal through the API, page by page. */
export async function readJournal(port: number, headers: Record<string, string> = {}): Promise<Array<{ id: string; seq: number; hlc: string; type: string; idempotencyKey: string }>> {
  const out = [];
  let after = 0;
  for (;;) {
    let r = await call(port, 'GET', `/api/v1/journal?after=${after}&limit=1000`, undefined, headers);
    // A read that meets a damaged table makes the journal repair itself (503, retryable): wait it out.
    for (let i = 0; r.status === 503 && i < 300; i++) {
      await sleep(100);
      r = await call(port, 'GET', `/api/v1/journal?after=${after}&limit=1000`, undefined, headers);
    }
    if (r.status !== 200) throw new Error(`journal read failed: ${r.status} ${r.body}`);
    const { events } = r.json<{ events: Array<{ id: string; seq: number; hlc: string; type: string; idempotencyKey: string }> }>();
    if (events.length === 0) return out;
    out.push(...events);
    after = events[events.length - 1]!.seq;
  }
}

/** The Authorization header of the box's manager token (from its secrets file). */
export function managerAuth(stateDir: string): Record<string, string> {
  const secrets = JSON.parse(readFileSync(join(stateDir, 'secrets.json'), 'utf8')) as { api: Array<{ role: string; token: string }> };
  const manager = secrets.api.find((t) => t.role === 'manager');
  if (!manager) throw new Error('no manager token in the secrets file');
  return { authorization: `Bearer ${manager.token}` };
}
