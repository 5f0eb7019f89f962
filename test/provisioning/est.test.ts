import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnrolErrorCode } from '../../contract/errors.ts';
import { EnrolError } from '../../contract/enrolment.ts';
import { silentLogger } from '../../lib/log.ts';
import { EC_SIGN, generateKeyPair, privateKeyToPem, toPkcs7Base64, x509 } from '../../lib/x509.ts';
import { EstClient } from '../../provisioning/est-client.ts';
import { EnrolmentService } from '../../cloud/est/service.ts';
import { EstServer } from '../../cloud/est/server.ts';
import { csrFor, enrol, renew } from '../../provisioning/enrol.ts';
import { IdentityStore } from '../../provisioning/identity-store.ts';

// EST enrolment end to end over real HTTPS (RFC 7030): HQ's CA and listener in
// this process, the box's client and identity store on a real state dir.

describe('EST enrolment against the HQ enrolment service', () => {
  const root = mkdtempSync(join(tmpdir(), 'tillbox-est-'));
  let hqNowOffset = 0;
  const service = new EnrolmentService({ dataDir: join(root, 'hq'), certLifetimeMs: 60_000, log: silentLogger() });
  const server = new EstServer({ service, host: '127.0.0.1', port: 0, log: silentLogger(), now: () => Date.now() + hqNowOffset });
  let n = 0;
  const box = () => {
    n++;
    return { store: new IdentityStore({ stateDir: join(root, `box${n}`) }), deviceId: `tb-test${n}` };
  };
  const codeOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (err) {
      expect(err).toBeInstanceOf(EnrolError);
      return `${(err as EnrolError).code}: ${(err as Error).message}`;
    }
    throw new Error('expected an EnrolError');
  };

  beforeAll(async () => {
    await service.start();
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('enrols with a one-time token: a key made on the box, a certificate for it (CN device, OU store), key file 0600', async () => {
    const b = box();
    const t = await service.createToken('store-7', null);
    const r = await enrol({ ...b, url: server.url, caFingerprint: t.caFingerprint, token: t.token });
    expect(r.storeId).toBe('store-7');
    const s = await b.store.status(b.deviceId);
    expect(s).toMatchObject({ deviceId: b.deviceId, storeId: 'store-7', state: 'enrolled', subject: `CN=${b.deviceId}, OU=store-7` });
    expect(b.store.mode()).toBe(0o600);
    expect(service.devices().find((d) => d.deviceId === b.deviceId)?.storeId).toBe('store-7');
  });

  it('refuses a reused token, an expired one, one for another device, and an unknown one, each with its reason', async () => {
    const t = await service.createToken('store-7', null);
    await enrol({ ...box(), url: server.url, caFingerprint: t.caFingerprint, token: t.token });
    expect(await codeOf(enrol({ ...box(), url: server.url, caFingerprint: t.caFingerprint, token: t.token }))).toBe(`${EnrolErrorCode.TokenRefused}: the enrolment token was already used`);
    const bound = await service.createToken('store-7', 'tb-someone-else');
    expect(await codeOf(enrol({ ...box(), url: server.url, caFingerprint: t.caFingerprint, token: bound.token }))).toMatch(/is for another device/);
    expect(await codeOf(enrol({ ...box(), url: server.url, caFingerprint: t.caFingerprint, token: 'tbx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }))).toMatch(/is not known/);
    const short = await service.createToken('store-7', null, 60);
    hqNowOffset = 0;
    const later = new EnrolmentService({ dataDir: join(root, 'hq'), certLifetimeMs: 60_000, log: silentLogger(), now: () => Date.now() + 120_000 });
    await later.start();
    const laterServer = new EstServer({ service: later, host: '127.0.0.1', port: 0, log: silentLogger() });
    await laterServer.start();
    try {
      expect(await codeOf(enrol({ ...box(), url: laterServer.url, caFingerprint: t.caFingerprint, token: short.token }))).toMatch(/has expired/);
    } finally {
      await laterServer.stop();
    }
  });

  it('refuses a CA that does not match the fingerprint, before sending anything', async () => {
    const t = await service.createToken('store-7', null);
    const wrong = 'ab'.repeat(32);
    expect(await codeOf(enrol({ ...box(), url: server.url, caFingerprint: wrong, token: t.token }))).toMatch(
      new RegExp(`^${EnrolErrorCode.Fingerprint}: HQ's CA does not match the fingerprint: expected ${wrong}`),
    );
    expect(await codeOf(enrol({ ...box(), url: server.url, caFingerprint: 'not-hex', token: t.token }))).toMatch(/must be a SHA-256/);
  });

  it('refuses to enrol when the clocks differ by 10 minutes, saying by how much', async () => {
    const t = await service.createToken('store-7', null);
    hqNowOffset = -10 * 60_000;
    try {
      expect(await codeOf(enrol({ ...box(), url: server.url, caFingerprint: t.caFingerprint, token: t.token }))).toMatch(/^TB_ENROL_CLOCK_SKEW: the box's clock is 10 min ahead of HQ's/);
    } finally {
      hqNowOffset = 0;
    }
  });

  it("refuses a server whose TLS certificate is not from the pinned CA, even when it hands out HQ's real CA (a man in the middle)", async () => {
    const other = new EnrolmentService({ dataDir: join(root, 'mitm'), certLifetimeMs: 60_000, log: silentLogger() });
    await other.start();
    const tls = await other.ca.issueServer(['localhost', '127.0.0.1'], 60_000);
    // Answers cacerts with the genuine CA's bundle, over a TLS certificate from another CA.
    const mitm = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/pkcs7-mime; smime-type=certs-only' }).end(toPkcs7Base64([service.ca.cert]));
      req.resume();
    });
    await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (mitm.address() as { port: number }).port;
      const t = await service.createToken('store-7', null);
      expect(await codeOf(enrol({ ...box(), url: `https://127.0.0.1:${port}`, caFingerprint: t.caFingerprint, token: t.token }))).toMatch(/^TB_ENROL_TLS: TLS with 127.0.0.1:\d+ failed/);
    } finally {
      mitm.close();
    }
  });

  it('refuses a CSR whose CN would inject a store or name a host, and builds the subject itself', async () => {
    const t = await service.createToken('store-7', null);
    for (const cn of ['box1, OU=storeB', 'box1+OU=storeB', 'mqtt.example.com', '*.example', 'localhost']) {
      const keys = await generateKeyPair();
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [cn] }], keys, signingAlgorithm: EC_SIGN });
      const ca = service.ca.certPem;
      const r = new EstClient({ url: server.url, ca }).simpleenroll(Buffer.from(csr.rawData).toString('base64'), cn, t.token);
      expect(await codeOf(r), cn).toMatch(/^TB_ENROL_BAD_MESSAGE: HQ answered 400: device id .* is not allowed/);
    }
    // The token was not spent by the refusals.
    expect((await enrol({ ...box(), url: server.url, caFingerprint: t.caFingerprint, token: t.token })).storeId).toBe('store-7');
  });

  it('does not hand an enrolled device id to another token or pairing: only a token bound to it re-enrols it', async () => {
    const b = box();
    const t = await service.createToken('store-b', null);
    await enrol({ ...b, url: server.url, caFingerprint: t.caFingerprint, token: t.token });
    const thief = { store: new IdentityStore({ stateDir: join(root, 'thief') }), deviceId: b.deviceId };
    const other = await service.createToken('store-a', null);
    expect(await codeOf(enrol({ ...thief, url: server.url, caFingerprint: t.caFingerprint, token: other.token }))).toMatch(/is enrolled already/);
    expect(await codeOf(enrol({ ...thief, url: server.url, caFingerprint: t.caFingerprint }))).toMatch(/is enrolled already/);
    const bound = await service.createToken('store-b', b.deviceId);
    expect((await enrol({ ...b, url: server.url, caFingerprint: t.caFingerprint, token: bound.token })).storeId).toBe('store-b');
  });

  it('renews only with the current certificate (or the one just before it), never an older one', async () => {
    const b = box();
    const t = await service.createToken('store-7', null);
    await enrol({ ...b, url: server.url, caFingerprint: t.caFingerprint, token: t.token });
    const first = readFileSync(b.store.identityFile, 'utf8');
    await renew(b);
    await renew(b);
    const old = { store: new IdentityStore({ stateDir: join(root, 'old-copy') }), deviceId: b.deviceId };
    mkdirSync(old.store.dir, { recursive: true });
    writeFileSync(old.store.identityFile, first, { mode: 0o600 });
    copyFileSync(join(b.store.dir, 'ca.pem'), join(old.store.dir, 'ca.pem'));
    copyFileSync(join(b.store.dir, 'enrolment.json'), join(old.store.dir, 'enrolment.json'));
    expect(await codeOf(renew(old))).toMatch(/superseded or unknown/);
    expect((await renew(b)).subject).toContain(b.deviceId);
  });

  it("refuses to take a device's certificate for HQ's server, even when it chains to the pinned CA", async () => {
    const keys = await generateKeyPair();
    const csr = new x509.Pkcs10CertificateRequest(Buffer.from(await csrFor(keys, 'evil-box', 'store-7'), 'base64'));
    const cert = await service.ca.issueDevice(csr, { deviceId: 'evil-box', storeId: 'store-7' }, 60_000);
    const fake = createHttpsServer({ cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey) }, (_req, res) => res.end('x'));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (fake.address() as { port: number }).port;
      const r = new EstClient({ url: `https://evil-box.local:${port}`, ca: service.ca.certPem }).cacerts();
      expect(await codeOf(r)).toMatch(/TB_ENROL_(TLS|UNREACHABLE)/);
      // By address, so the name resolves: the check that refuses is the device-certificate one.
      const byIp = await codeOf(new EstClient({ url: `https://127.0.0.1:${port}`, ca: service.ca.certPem }).cacerts());
      expect(byIp).toMatch(/^TB_ENROL_TLS: .*presented a device certificate/);
    } finally {
      fake.close();
    }
  });

  it('says HQ is unreachable, and refuses a plain-HTTP URL', async () => {
    expect(await codeOf(enrol({ ...box(), url: 'https://127.0.0.1:1', caFingerprint: 'ab'.repeat(32), token: 'x' }))).toMatch(/^TB_ENROL_UNREACHABLE: cannot reach HQ/);
    expect(await codeOf(enrol({ ...box(), url: 'http://127.0.0.1:1', caFingerprint: 'ab'.repeat(32), token: 'x' }))).toMatch(/must be https/);
  });

  it('enrols by pairing code: 202 with Retry-After until an operator approves the code, then the certificate', async () => {
    const b = box();
    const e = await codeOf(enrol({ ...b, url: server.url, caFingerprint: service.ca.fingerprint }));
    expect(e).toMatch(/^TB_ENROL_PENDING: pairing code [0-9A-Z]{3}-[0-9A-Z]{3} waits for approval/);
    const code = (await b.store.status(b.deviceId)).pairingCode!;
    expect((await b.store.status(b.deviceId)).state).toBe('pending');
    expect(service.pairings()).toContainEqual(expect.objectContaining({ code, deviceId: b.deviceId, status: 'pending', address: '127.0.0.1' }));
    // The same key (and code) across a restart of the box.
    expect(await new IdentityStore({ stateDir: join(b.store.dir, '..') }).pendingPairingCode()).toBe(code);
    await service.approvePairing(code, 'store-9');
    const r = await enrol({ ...b, url: server.url, caFingerprint: service.ca.fingerprint });
    expect(r.storeId).toBe('store-9');
    expect((await b.store.status(b.deviceId)).state).toBe('enrolled');
    expect((await b.store.status(b.deviceId)).pairingCode).toBeUndefined();
  });

  it('renews with the current certificate and a new key; a revoked device is refused and knows it', async () => {
    const b = box();
    const t = await service.createToken('store-7', null);
    const first = await enrol({ ...b, url: server.url, caFingerprint: t.caFingerprint, token: t.token });
    const keyBefore = b.store.read()!.keyPem;
    const renewed = await renew(b);
    expect(renewed.serialNumber).not.toBe(first.cert.serialNumber);
    expect(b.store.read()!.keyPem).not.toBe(keyBefore);
    expect(renewed.subject).toBe(first.cert.subject);
    await service.revoke(b.deviceId);
    expect(await codeOf(renew(b))).toMatch(/^TB_ENROL_REVOKED/);
    expect((await b.store.status(b.deviceId)).state).toBe('revoked');
    const crl = await service.crlPem();
    expect(crl).toMatch(/BEGIN X509 CRL/);
  });
});
