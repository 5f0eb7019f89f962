import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from 'selfsigned';
import { startCore, startFlowsProcess, until, type CoreBox } from './support.ts';

// `tillbox flows` as an installer meets it: configuration mistakes are named
// and stop it with exit 2, the LAN editor is HTTPS only, and a broken store
// overlay leaves the flows deployed last time in place.

const ROOT = resolve(import.meta.dirname, '../..');
let core: CoreBox;

beforeAll(async () => {
  core = await startCore();
}, 60_000);
afterAll(async () => {
  await core?.stop();
});

function runFlows(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(ROOT, 'appliance/cli/main.ts'), 'flows', '--demo'], {
      cwd: ROOT,
      env: { ...process.env, TILLBOX_STATE_DIR: core.stateDir, TILLBOX_FLOWS_PORT: '0', TILLBOX_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.once('exit', (code) => res({ code, out }));
  });
}

describe('tillbox flows', () => {
  it('refuses to serve the editor on the LAN without TLS (exit 2, the setting named)', async () => {
    const r = await runFlows({ TILLBOX_FLOWS_HOST: '0.0.0.0' });
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/flows\.host 0\.0\.0\.0 is not loopback: .*only over TLS \(set flows\.lanTls\.certFile and flows\.lanTls\.keyFile\)/);
  }, 60_000);

  it('serves the editor over HTTPS when lanTls is set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-flows-tls-'));
    const pems = await generate([{ name: 'commonName', value: 'tillbox-test' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
    writeFileSync(join(dir, 'editor.key'), pems.private, { mode: 0o600 });
    writeFileSync(join(dir, 'editor.crt'), pems.cert);
    const flows = await startFlowsProcess(core, { TILLBOX_FLOWS_HOST: '127.0.0.2', TILLBOX_FLOWS_LAN_TLS_CERT_FILE: join(dir, 'editor.crt'), TILLBOX_FLOWS_LAN_TLS_KEY_FILE: join(dir, 'editor.key') });
    try {
      expect(flows.url).toMatch(/^https:\/\/127\.0\.0\.2:\d+\/$/);
      const status = await new Promise<number>((res, rej) => {
        const req = request(new URL('auth/login', flows.url), { rejectUnauthorized: false }, (r) => {
          r.resume();
          res(r.statusCode ?? 0);
        });
        req.on('error', rej);
        req.end();
      });
      expect(status).toBe(200);
    } finally {
      await flows.stop();
    }
  }, 60_000);

  it("reads its secrets from the credentials systemd hands it, as the image runs it (its own user, no access to core's files), and keeps its compile cache in its own dir", async () => {
    const own = join(core.stateDir, 'flows-secrets.json');
    const creds = mkdtempSync(join(tmpdir(), 'tillbox-creds-'));
    copyFileSync(own, join(creds, 'flows-secrets.json'));
    // Core's copy is out of reach, as it is for the tillbox-flows user on the image.
    renameSync(own, `${own}.away`);
    // Its compile cache lives in its own dir, set when it re-executes itself under the permission model.
    const compileCache = join(core.stateDir, 'flows', '.compile-cache');
    rmSync(compileCache, { recursive: true, force: true });
    const child = spawn(process.execPath, [join(ROOT, 'appliance/cli/main.ts'), 'flows', '--demo'], {
      cwd: ROOT,
      env: { ...process.env, TILLBOX_STATE_DIR: core.stateDir, TILLBOX_FLOWS_PORT: '0', TILLBOX_LOG_LEVEL: 'warn', CREDENTIALS_DIRECTORY: creds },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      await until(() => {
        if (child.exitCode !== null) throw new Error(`tillbox flows exited with ${child.exitCode}:\n${out}`);
        return /Node-RED editor (\S+)/.exec(out)?.[1];
      }, 'tillbox flows to be ready');
      // The path goes with the other secret-looking variables, after it was read.
      expect(out).toMatch(/removed secret-looking variables from the environment: .*CREDENTIALS_DIRECTORY/);
    } finally {
      child.kill('SIGTERM');
      await exited;
      renameSync(`${own}.away`, own);
    }
    expect(readdirSync(compileCache, { recursive: true }).length).toBeGreaterThan(0);
  }, 90_000);

  it('keeps the flows deployed last time when the store overlay is broken, and says why', async () => {
    const first = await startFlowsProcess(core);
    await first.stop();
    const flowFile = join(core.stateDir, 'flows', 'flows.json');
    const before = readFileSync(flowFile, 'utf8');
    const bad = join(mkdtempSync(join(tmpdir(), 'tillbox-overlay-')), 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, store: 'demo-store', revision: 1, base: 99 }));
    const second = await startFlowsProcess(core, { TILLBOX_FLOWS_OVERLAY: bad });
    try {
      await until(() => second.output().includes('NOT deployed') || undefined, 'the overlay error');
      expect(second.output()).toMatch(/store flows NOT deployed, the previous flows stay: .*written for base 99, this is base 1/);
      expect(JSON.parse(readFileSync(flowFile, 'utf8'))).toEqual(JSON.parse(before));
    } finally {
      await second.stop();
    }
  }, 60_000);
});
