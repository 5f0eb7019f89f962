import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnrolmentService } from '../cloud/est/service.ts';
import { EstServer } from '../cloud/est/server.ts';
import { startMosquitto } from '../harness/mosquitto.ts';
import { deviceListener } from '../harness/mosquitto-mtls.ts';
import { freePort } from '../harness/ports.ts';
import { Backoff } from '../lib/backoff.ts';
import { silentLogger } from '../lib/log.ts';
import { CloudLink } from '../appliance/sync/cloud-link.ts';
import { EstClient } from '../provisioning/est-client.ts';
import { enrol, renew } from '../provisioning/enrol.ts';
import { IdentityStore } from '../provisioning/identity-store.ts';
import { percentile } from './stats.ts';

// Provisioning: the enrolment round trip (CA fetch + fingerprint, key, CSR,
// simpleenroll over HTTPS, store) against a bare HTTPS GET to the same EST
// server as the baseline; and the longest gap between PUBACKs on the cloud
// link (Mosquitto 2, mutual TLS) while the certificate rotates under a
// stream of QoS 1 publishes.

export interface ProvisioningBenchResult {
  enrolMs: number;
  httpsRoundTripMs: number;
  enrolOverHttps: number;
  rotationReconnectGapMs: number;
  rotationReconnectGapMsMedian: number;
  rotations: number;
}

export async function benchProvisioning(): Promise<ProvisioningBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-bench-prov-'));
  const log = silentLogger();
  const service = new EnrolmentService({ dataDir: join(dir, 'hq'), certLifetimeMs: 3_600_000, log });
  await service.start();
  const est = new EstServer({ service, host: '127.0.0.1', port: 0, log });
  await est.start();
  try {
    const https: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await new EstClient({ url: est.url, ca: service.ca.certPem }).cacerts();
      https.push(performance.now() - t0);
    }
    const enrolls: number[] = [];
    let store: IdentityStore | undefined;
    for (let i = 0; i < 20; i++) {
      const t = await service.createToken('bench-store', null);
      store = new IdentityStore({ stateDir: join(dir, `box${i}`) });
      const t0 = performance.now();
      await enrol({ store, deviceId: `bench-${i}`, url: est.url, caFingerprint: t.caFingerprint, token: t.token });
      enrolls.push(performance.now() - t0);
    }
    const gaps = await rotationGaps(dir, service, store!, 'bench-19', est.url);
    const enrolMs = percentile(enrolls, 50);
    const httpsRoundTripMs = percentile(https, 50);
    return {
      enrolMs: Math.round(enrolMs * 10) / 10,
      httpsRoundTripMs: Math.round(httpsRoundTripMs * 10) / 10,
      enrolOverHttps: Math.round((enrolMs / httpsRoundTripMs) * 10) / 10,
      rotationReconnectGapMs: Math.round(Math.max(...gaps)),
      rotationReconnectGapMsMedian: Math.round(percentile(gaps, 50)),
      rotations: gaps.length,
    };
  } finally {
    await est.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rotationGaps(dir: string, service: EnrolmentService, store: IdentityStore, deviceId: string, _estUrl: string): Promise<number[]> {
  let port = 0;
  const tls = join(dir, 'tls');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(tls);
  chmodSync(dir, 0o755);
  const mosquitto = await startMosquitto({ extraConfig: await deviceListener(service.ca, tls, (port = await freePort())) });
  let up = false;
  const link = new CloudLink({
    url: `mqtts://localhost:${port}`,
    clientId: deviceId,
    protocol: 'auto',
    tls: () => {
      const id = store.read()!;
      return { cert: id.certPem, key: id.keyPem, ca: store.caPem() };
    },
    keepaliveSec: 30,
    connectTimeoutMs: 5000,
    will: { topic: `fleet/${deviceId}/status`, payload: 'offline' },
    subscriptions: [],
    backoff: new Backoff({ baseMs: 50, maxMs: 500 }),
    log: silentLogger(),
    onUp: () => (up = true),
    onDown: () => (up = false),
    onMessage: () => undefined,
  });
  link.start();
  const gaps: number[] = [];
  try {
    while (!up) await new Promise((r) => setTimeout(r, 10));
    for (let r = 0; r < 5; r++) {
      let last = performance.now();
      let longest = 0;
      let stop = false;
      const pump = (async () => {
        while (!stop) {
          try {
            await link.publish(`tillbox/v1/${deviceId}/events`, 'x');
            const now = performance.now();
            longest = Math.max(longest, now - last);
            last = now;
          } catch {
            await new Promise((res) => setTimeout(res, 2));
          }
        }
      })();
      await new Promise((res) => setTimeout(res, 300));
      await renew({ store, deviceId });
      link.reconnect('bench rotation');
      await new Promise((res) => setTimeout(res, 1000));
      stop = true;
      await pump;
      gaps.push(longest);
    }
  } finally {
    await link.stop();
    await mosquitto.cleanup();
  }
  return gaps;
}
