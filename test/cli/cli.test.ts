import { mkdtempSync, writeFileSync, rmSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectAsync } from 'mqtt';
import { Level } from 'level';
import { tillbox } from '../support/cli.ts';
import { call, postSale, startBox } from '../../harness/box.ts';
import { freePort } from '../../harness/ports.ts';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `tillbox-${name}-`));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function freePortsEnv(stateDir: string): Promise<Record<string, string>> {
  return {
    TILLBOX_STATE_DIR: stateDir,
    TILLBOX_HTTP_PORT: String(await freePort()),
    TILLBOX_MQTT_PORT: String(await freePort()),
    TILLBOX_MQTT_WS_PORT: String(await freePort()),
  };
}

describe('tillbox config check', () => {
  it('accepts a valid file with exit 0', async () => {
    const f = join(tmp('cfg'), 'ok.yaml');
    writeFileSync(f, 'version: 1\nstore: { id: berlin-01 }\n');
    const r = await tillbox(['config', 'check', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok');
  });

  it('lists every problem with its field path and exits 2', async () => {
    const f = join(tmp('cfg'), 'bad.yaml');
    writeFileSync(f, 'version: 1\nhttp: { port: "eighty" }\nmqtt: { tls: { enabeld: true } }\n');
    const r = await tillbox(['config', 'check', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('http.port');
    expect(r.stderr).toContain('mqtt.tls.enabeld: unknown key');
  });

  it('reports a bad environment override by its variable name', async () => {
    const f = join(tmp('cfg'), 'ok.yaml');
    writeFileSync(f, 'version: 1\n');
    const r = await tillbox(['config', 'check', f], { TILLBOX_MQTT_PORT: 'abc' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TILLBOX_MQTT_PORT="abc" is not a number');
  });
});

describe('tillbox core without a store id', () => {
  it('refuses to start outside demo mode and names store.id', async () => {
    const dir = tmp('nostore');
    dirs.push(dir);
    const r = await tillbox(['core'], await freePortsEnv(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('store.id: is required');
  });
});

describe('tillbox doctor', () => {
  it('passes on a fresh machine where nothing has started yet, with warnings only', async () => {
    const dir = join(tmp('doc'), 'state');
    const r = await tillbox(['doctor', '--demo'], await freePortsEnv(dir));
    expect(r.stdout).toMatch(/warn\s+box\s+not running/);
    expect(r.stdout).toMatch(/ok\s+port HTTP/);
    expect(r.stdout).toMatch(/ok\s+disk/);
    expect(r.code).toBe(0);
  });

  it('fails and says which port is taken', async () => {
    const dir = tmp('doc');
    const env = await freePortsEnv(dir);
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(Number(env.TILLBOX_HTTP_PORT), '127.0.0.1', r));
    try {
      const r = await tillbox(['doctor', '--demo'], env);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`FAIL\\s+port HTTP\\s+127.0.0.1:${env.TILLBOX_HTTP_PORT} is taken`));
    } finally {
      blocker.close();
    }
  });

  it('checks a running box over HTTP and MQTT, then its stopped journal offline, and catches a corrupt record', async () => {
    const box = await startBox();
    dirs.push(box.stateDir);
    const env = { TILLBOX_STATE_DIR: box.stateDir };
    try {
      for (let i = 0; i < 3; i++) expect((await postSale(box.port, `doc-${i}`, { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 119 }] })).status).toBe(201);
      let r = await tillbox(['doctor', '--demo', '--json'], env);
      const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
      const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
      expect(byName.box?.status).toBe('ok');
      expect(byName.http?.status).toBe('ok');
      expect(byName.broker?.status).toBe('ok');
      expect(['ok', 'warn']).toContain(byName.journal?.status);
      expect(byName.secrets?.status).toBe('ok');
      expect(byName['state dir']?.status).toBe('ok');

      await box.kill();
      r = await tillbox(['doctor', '--demo'], env);
      expect(r.stdout).toMatch(/ok\s+journal\s+journal ok: 3 events, lastSeq 3/);

      // Flip a byte inside the second event's stored record.
      const db = new Level<string, string>(join(box.stateDir, 'journal'));
      const key = 'e!' + '2'.padStart(16, '0');
      const raw = await db.get(key);
      await db.put(key, raw!.replace('MILK-1L', 'MILK-2L'));
      await db.close();
      r = await tillbox(['doctor', '--demo'], env);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/FAIL\s+journal/);
      expect(r.stdout).toMatch(/corrupt record seq 2/);
    } finally {
      await box.kill();
    }
  }, 60_000);
});

describe('tillbox secrets show', () => {
  it('prints the generated credentials of this box, which work on its broker', async () => {
    const box = await startBox(undefined, { TILLBOX_DEMO: 'false', TILLBOX_STORE_ID: 'berlin-01' });
    dirs.push(box.stateDir);
    try {
      const r = await tillbox(['secrets', 'show', '--json'], { TILLBOX_STATE_DIR: box.stateDir });
      expect(r.code).toBe(0);
      const secrets = JSON.parse(r.stdout) as { mqtt: Array<{ username: string; password: string; role: string }> };
      expect(statSync(join(box.stateDir, 'secrets.json')).mode & 0o777).toBe(0o600);
      const kiosk = secrets.mqtt.find((a) => a.role === 'kiosk')!;
      const rt = JSON.parse(readFileSync(join(box.stateDir, 'runtime.json'), 'utf8')) as { mqtt: { tcp: { port: number } } };
      const client = await connectAsync(`mqtt://127.0.0.1:${rt.mqtt.tcp.port}`, { clientId: `${kiosk.username}-test`, username: kiosk.username, password: kiosk.password, reconnectPeriod: 0 });
      await client.endAsync();
      await expect(connectAsync(`mqtt://127.0.0.1:${rt.mqtt.tcp.port}`, { clientId: 'kiosk-test2', username: 'kiosk', password: 'wrong', reconnectPeriod: 0 })).rejects.toThrow();
      // Outside demo mode the API on loopback needs a token too.
      expect((await call(box.port, 'GET', '/api/v1/catalog')).status).toBe(401);
      expect(r.stdout).not.toBe('');
      expect(box.output()).not.toContain(kiosk.password);
    } finally {
      await box.stop();
    }
  }, 30_000);
});

describe('two boxes on one machine', () => {
  it('run side by side with their own state dirs, ports and device ids', async () => {
    const [a, b] = await Promise.all([startBox(), startBox()]);
    try {
      expect(a.port).not.toBe(b.port);
      const sale = { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 119 }] };
      const ra = (await postSale(a.port, 'same-key', sale)).json<{ seq: number; deviceId?: string; id: string }>();
      const rb = (await postSale(b.port, 'same-key', sale)).json<{ seq: number; id: string }>();
      expect(ra.seq).toBe(1);
      expect(rb.seq).toBe(1);
      expect(ra.id).not.toBe(rb.id);
      const idA = readFileSync(join(a.stateDir, 'device-id'), 'utf8');
      const idB = readFileSync(join(b.stateDir, 'device-id'), 'utf8');
      expect(idA).not.toBe(idB);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 30_000);
});
