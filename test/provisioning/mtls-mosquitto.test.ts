import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCa } from '../../cloud/est/ca.ts';
import { call, managerAuth, postSale, readJournal, startBox, type BoxProcess } from '../../harness/box.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { deviceListener } from '../../harness/mosquitto-mtls.ts';
import { startRealHq, type RealHq } from '../../harness/real-hq.ts';

// Certificate provisioning end to end, with every part real: tillbox-hq in
// its own process (EST over HTTPS, PGlite), Mosquitto 2 with a device listener
// that requires a client certificate from HQ's CA, takes the certificate's CN
// as the username and confines each device to its own topics (%u ACL), and
// reads HQ's CRL; the box enrolled by `tillbox enroll` with a token from
// `tillbox-hq token create`. Device certificates live 12 s, so the box
// renews (simplereenroll, new key) every 8 s while it sells.

const ROOT = resolve(import.meta.dirname, '../..');
const CERT_SECONDS = 12;

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.once('exit', (code) => res({ code, stdout, stderr }));
  });
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Every file under a directory, recursively (for the secret scan). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('a box enrolled at HQ syncs through Mosquitto with mutual TLS', () => {
  const tls = mkdtempSync(join(tmpdir(), 'tillbox-mtls-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'tillbox-mtls-box-'));
  let ca: DeviceCa;
  let mosquitto: Mosquitto;
  let devicePort = 0;
  let hq: RealHq;
  let box: BoxProcess;
  let deviceId = '';
  let token = '';
  let estUrl = '';
  let fingerprint = '';
  let sold = 0;
  const hqCli = (args: string[]) => run(['cloud/hq/main.ts', ...args], { HQ_URL: hq.httpUrl });
  const sell = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await postSale(box.port, `mtls-${sold}`, { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] });
      expect(r.status, r.body).toBe(201);
      sold++;
    }
  };
  /** The certificate the box's LAN MQTT TLS listener presents, checked against HQ's CA for the name `deviceId`. */
  const lanCertificate = (): Promise<{ serialNumber: string }> => {
    const rt = JSON.parse(readFileSync(join(stateDir, 'runtime.json'), 'utf8')) as { mqtt: { tls?: { port: number } } };
    return new Promise((res, rej) => {
      const s = tlsConnect({ host: '127.0.0.1', port: rt.mqtt.tls!.port, ca: ca.certPem, servername: `${deviceId}.local` }, () => {
        const c = s.getPeerCertificate();
        s.destroy();
        res({ serialNumber: c.serialNumber });
      });
      s.once('error', rej);
    });
  };
  const journalIds = async () => (await readJournal(box.port, managerAuth(stateDir))).map((e) => e.id);
  const identity = async () => (await call(box.port, 'GET', '/api/v1/identity')).json<{ state: string; serial: string; notAfter: string }>();
  /** HQ holds exactly the box's journal: every event once. */
  const expectExactlyOnce = async () => {
    const ids = await journalIds();
    await until('HQ to hold the whole journal', 60_000, async () => (await hq.watermark(deviceId)) >= ids.length);
    const held = (await hq.events(deviceId)).map((e) => e.id);
    expect(held.length).toBe(new Set(held).size);
    expect(new Set(held)).toEqual(new Set(ids));
  };

  beforeAll(async () => {
    ca = await DeviceCa.open({ dir: join(tls, 'ca') });
    const { freePort } = await import('../../harness/ports.ts');
    devicePort = await freePort();
    // The device listener of the README: certificate CN as username, %u ACL, HQ's CRL.
    mosquitto = await startMosquitto({
      preConfig: ['per_listener_settings true'],
      extraConfig: [...(await deviceListener(ca, tls, devicePort, { crl: true, acl: true })), 'allow_anonymous false'],
    });
    hq = await startRealHq(mosquitto.url, 'pglite', {
      HQ_EST_PORT: '0',
      HQ_CA_CERT_FILE: join(tls, 'ca', 'ca.crt'),
      HQ_CA_KEY_FILE: join(tls, 'ca', 'ca.key'),
      HQ_CERT_SECONDS: String(CERT_SECONDS),
    });
  }, 120_000);

  afterAll(async () => {
    await box?.stop();
    await hq?.stop();
    await mosquitto?.cleanup();
    rmSync(tls, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('enrols with `tillbox enroll` and a token from `tillbox-hq token create`; a reused token is refused with exit 2', async () => {
    const t = await hqCli(['token', 'create', '--store', 'demo-store', '--ttl', '1h', '--json']);
    expect(t.code, t.stderr).toBe(0);
    ({ token, estUrl, caFingerprint: fingerprint } = JSON.parse(t.stdout) as { token: string; estUrl: string; caFingerprint: string });
    expect(fingerprint).toBe(ca.fingerprint);
    const e = await run(['appliance/cli/main.ts', 'enroll', '--url', estUrl, '--token', token, '--ca-fingerprint', fingerprint, '--state-dir', stateDir], {});
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/^enrolled: CN=tb-[0-9a-f]+, OU=demo-store/);
    expect(e.stderr).toMatch(/CA matches the fingerprint/);
    deviceId = readFileSync(join(stateDir, 'device-id'), 'utf8').trim();
    expect(statSync(join(stateDir, 'identity', 'identity.pem')).mode & 0o777).toBe(0o600);
    // The token works once: a second box cannot use it.
    const otherDir = mkdtempSync(join(tmpdir(), 'tillbox-mtls-other-'));
    const again = await run(['appliance/cli/main.ts', 'enroll', '--url', estUrl, '--token', token, '--ca-fingerprint', fingerprint, '--state-dir', otherDir, '--json'], {});
    rmSync(otherDir, { recursive: true, force: true });
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: false, code: 'TB_ENROL_TOKEN_REFUSED', message: 'the enrolment token was already used' });
    // Nor can anyone enrol this box's device id again without a token bound to it.
    const retake = await run(['appliance/cli/main.ts', 'enroll', '--url', estUrl, '--token', token, '--ca-fingerprint', fingerprint, '--state-dir', stateDir, '--json'], {});
    expect(retake.code).toBe(2);
    expect(JSON.parse(retake.stdout).message).toMatch(/is enrolled already/);
    const wrong = await run(['appliance/cli/main.ts', 'enroll', '--url', estUrl, '--token', token, '--ca-fingerprint', 'ab'.repeat(32), '--state-dir', stateDir], {});
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/HQ's CA does not match the fingerprint/);
    const show = await run(['appliance/cli/main.ts', 'identity', 'show', '--json', '--state-dir', stateDir], {});
    expect(JSON.parse(show.stdout)).toMatchObject({ deviceId, storeId: 'demo-store', state: 'enrolled' });
  }, 60_000);

  it('syncs sales over mutual TLS with no certificate paths configured, and HQ holds each exactly once', async () => {
    box = await startBox(stateDir, {
      TILLBOX_CLOUD_URL: `mqtts://localhost:${devicePort}`,
      TILLBOX_CLOUD_BACKOFF_MAX_MS: '1000',
      TILLBOX_MQTT_TLS_ENABLED: 'true',
      TILLBOX_MQTT_TLS_HOST: '127.0.0.1',
      TILLBOX_MQTT_TLS_PORT: '0',
    });
    await sell(20);
    await expectExactlyOnce();
  }, 120_000);

  it("refuses device B's certificate on device A's topics: nothing from it reaches HQ", async () => {
    const { x509Pair } = await otherDevice(ca, 'tb-intruder', 'demo-store');
    const watcher = await mqtt.connectAsync(mosquitto.url, { clientId: 'watcher', reconnectPeriod: 0 });
    const seen: string[] = [];
    await watcher.subscribeAsync(`tillbox/v1/${deviceId}/#`, { qos: 1 });
    watcher.on('message', (topic, payload) => {
      if (payload.toString().includes('forged-by-intruder')) seen.push(topic);
    });
    const intruder = await mqtt.connectAsync(`mqtts://localhost:${devicePort}`, { ...x509Pair, ca: ca.certPem, clientId: 'tb-intruder', reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 });
    intruder.on('error', () => undefined);
    // MQTT 3.1.1 has no way to refuse a publish: Mosquitto acknowledges it and drops it.
    await Promise.race([intruder.publishAsync(`tillbox/v1/${deviceId}/events`, JSON.stringify({ note: 'forged-by-intruder' }), { qos: 1 }).catch(() => undefined), sleep(3000)]);
    await sleep(1000);
    expect(seen).toEqual([]);
    intruder.end(true);
    await watcher.endAsync();
    // A client without any certificate never gets a CONNACK.
    expect(await connectOutcome(`mqtts://localhost:${devicePort}`, { ca: ca.certPem, clientId: 'anon' })).toBe('refused');
  }, 30_000);

  it('presents its HQ-issued certificate on the LAN TLS listener, verifiable against HQ CA by the device id', async () => {
    const cert = await lanCertificate();
    expect(cert.serialNumber.toLowerCase()).toBe((await identity()).serial.toLowerCase());
  });

  it('renews its certificate several times while selling (new serial each time), losing and doubling nothing', async () => {
    const lanBefore = (await lanCertificate()).serialNumber;
    const serials = new Set<string>([(await identity()).serial]);
    const t0 = Date.now();
    while (Date.now() - t0 < 2.6 * CERT_SECONDS * 1000) {
      await sell(5);
      serials.add((await identity()).serial);
      await sleep(200);
    }
    expect(serials.size).toBeGreaterThanOrEqual(3);
    expect((await identity()).state).toBe('enrolled');
    // The LAN listener follows the rotation (new handshakes get the new certificate).
    expect((await lanCertificate()).serialNumber).not.toBe(lanBefore);
    await expectExactlyOnce();
  }, 180_000);

  it('is refused at the broker once revoked and the CRL is reloaded, and keeps selling offline', async () => {
    const r = await hqCli(['device', 'revoke', deviceId]);
    expect(r.code, r.stderr).toBe(0);
    const crl = await fetch(new URL('/crl', hq.httpUrl));
    expect(crl.status).toBe(200);
    writeFileSync(join(tls, 'crl.pem'), await crl.text(), { mode: 0o644 });
    // Mosquitto reads crlfile at start (SIGHUP reloads certificates, not the CRL).
    await mosquitto.restart();
    const before = await hq.watermark(deviceId);
    await sleep(3000);
    await sell(10);
    await sleep(3000);
    expect(await hq.watermark(deviceId)).toBe(before);
    const sync = (await call(box.port, 'GET', '/api/v1/sync/status')).json<{ connected: boolean }>();
    expect(sync.connected).toBe(false);
    await until('the box to learn it is revoked', 3 * CERT_SECONDS * 1000, async () => (await identity()).state === 'revoked');
    const d = await run(['appliance/cli/main.ts', 'doctor', '--demo', '--json', '--state-dir', stateDir], {});
    expect((JSON.parse(d.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks.find((c) => c.name === 'identity')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('revoked'),
    });
  }, 120_000);

  it('enrols a box that has only enrolment.url and the fingerprint by pairing code, once an operator approves it', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'tillbox-mtls-pair-'));
    const box2 = await startBox(dir2, {
      TILLBOX_CLOUD_URL: `mqtts://localhost:${devicePort}`,
      TILLBOX_CLOUD_BACKOFF_MAX_MS: '1000',
      TILLBOX_ENROLMENT_URL: estUrl,
      TILLBOX_ENROLMENT_CA_FINGERPRINT: fingerprint,
    });
    try {
      const id2 = async () => (await call(box2.port, 'GET', '/api/v1/identity')).json<{ deviceId: string; state: string; pairingCode?: string; storeId: string | null }>();
      await until('a pairing code', 15_000, async () => (await id2()).state === 'pending');
      const { pairingCode, deviceId: d2 } = await id2();
      expect(pairingCode).toMatch(/^[0-9A-Z]{3}-[0-9A-Z]{3}$/);
      expect(box2.output()).toContain(`pairing code ${pairingCode}`);
      await until('HQ to list the code', 15_000, async () => {
        const l = await hqCli(['pairing', 'list', '--json']);
        return (JSON.parse(l.stdout) as { pairings: Array<{ code: string; deviceId: string }> }).pairings.some((p) => p.code === pairingCode && p.deviceId === d2);
      });
      const a = await hqCli(['pairing', 'approve', pairingCode!.toLowerCase().replace('-', ''), '--store', 'demo-store']);
      expect(a.code, a.stderr).toBe(0);
      await until('the box to be enrolled', 30_000, async () => (await id2()).state === 'enrolled');
      expect((await id2()).storeId).toBe('demo-store');
      const r = await postSale(box2.port, 'pair-1', { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] });
      expect(r.status).toBe(201);
      const n = (await readJournal(box2.port, managerAuth(dir2))).length;
      await until('HQ to hold the paired box journal', 30_000, async () => (await hq.watermark(d2)) >= n);
    } finally {
      await box2.stop();
      rmSync(dir2, { recursive: true, force: true });
    }
  }, 120_000);

  it('leaves no key material or token in any log, the journal or HQ data', async () => {
    const keyPem = readFileSync(join(stateDir, 'identity', 'identity.pem'), 'utf8');
    const keyBody = keyPem.split('-----BEGIN PRIVATE KEY-----')[1]!.split('-----END PRIVATE KEY-----')[0]!.replace(/\s+/g, '');
    const needles = [token, keyBody.slice(0, 40), keyBody.slice(-40)];
    const haystacks: Array<[string, string]> = [
      ['box output', box.output()],
      ['HQ output', hq.output()],
      ['mosquitto output', mosquitto.output()],
    ];
    for (const f of [...filesUnder(join(stateDir, 'journal')), ...filesUnder(hq.dataDir)]) haystacks.push([f, readFileSync(f).toString('latin1')]);
    expect(haystacks.length).toBeGreaterThan(5);
    for (const [name, text] of haystacks) for (const n of needles) expect(text.includes(n), `${name} contains a secret`).toBe(false);
  }, 30_000);
});

/** Whether an MQTT connect gets a CONNACK within 5 s. */
function connectOutcome(url: string, opts: mqtt.IClientOptions): Promise<'connected' | 'refused'> {
  return new Promise((res) => {
    const c = mqtt.connect(url, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 });
    const done = (r: 'connected' | 'refused') => {
      clearTimeout(t);
      c.end(true);
      res(r);
    };
    const t = setTimeout(() => done('refused'), 6000);
    c.once('connect', () => done('connected'));
    c.once('error', () => done('refused'));
    c.once('close', () => done('refused'));
  });
}

/** A second device's certificate, issued directly by the CA (as HQ would for another box). */
async function otherDevice(ca: DeviceCa, deviceId: string, storeId: string): Promise<{ x509Pair: { cert: string; key: string } }> {
  const { generateKeyPair, privateKeyToPem } = await import('../../lib/x509.ts');
  const { csrFor } = await import('../../provisioning/enrol.ts');
  const { x509 } = await import('../../lib/x509.ts');
  const keys = await generateKeyPair();
  const csr = new x509.Pkcs10CertificateRequest(Buffer.from(await csrFor(keys, deviceId, storeId), 'base64'));
  const cert = await ca.issueDevice(csr, { deviceId, storeId }, 3_600_000);
  return { x509Pair: { cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) } };
}
