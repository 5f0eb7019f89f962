import { loadConfig } from '../config/index.ts';
import { EnrolErrorCode } from '../../contract/errors.ts';
import { EnrolError } from '../../contract/enrolment.ts';
import { enrol } from '../../provisioning/enrol.ts';
import { IdentityStore } from '../../provisioning/identity-store.ts';
import { loadOrCreateDeviceId } from '../secrets/secrets.ts';
import { ensureStateDir, resolveStateDir, statePaths } from '../state/state-dir.ts';

// `tillbox enroll` (the installer's command) and `tillbox identity show`.
// Exit codes: 0 enrolled; 2 token refused; 3 CA fingerprint mismatch; 4 clock
// off; 5 TLS failure; 6 HQ unreachable; 7 waiting for pairing approval;
// 8 revoked; 1 anything else. Nothing secret is printed: not the token, not the key.

const EXIT: Record<string, number> = {
  [EnrolErrorCode.TokenRefused]: 2,
  [EnrolErrorCode.Fingerprint]: 3,
  [EnrolErrorCode.ClockSkew]: 4,
  [EnrolErrorCode.Tls]: 5,
  [EnrolErrorCode.Unreachable]: 6,
  [EnrolErrorCode.Pending]: 7,
  [EnrolErrorCode.Revoked]: 8,
};

export interface EnrollOptions {
  url?: string;
  token?: string;
  caFingerprint?: string;
  config?: string;
  stateDir?: string;
  json?: boolean;
}

function boxIds(opts: { config?: string; stateDir?: string }): { stateDir: string; deviceId: string; storeId: string | undefined; enrolment: { url?: string; caFingerprint?: string } } {
  const config = loadConfig(opts.config ? { file: opts.config } : {});
  const stateDir = resolveStateDir(process.env, opts.stateDir);
  ensureStateDir(stateDir);
  return {
    stateDir,
    deviceId: loadOrCreateDeviceId(statePaths(stateDir).deviceId, config.device.id),
    storeId: config.store.id,
    enrolment: { ...(config.enrolment.url ? { url: config.enrolment.url } : {}), ...(config.enrolment.caFingerprint ? { caFingerprint: config.enrolment.caFingerprint } : {}) },
  };
}

export async function runEnroll(opts: EnrollOptions): Promise<number> {
  const ids = boxIds(opts);
  const url = opts.url ?? ids.enrolment.url;
  const caFingerprint = opts.caFingerprint ?? ids.enrolment.caFingerprint;
  if (!url || !caFingerprint) {
    process.stderr.write('tillbox enroll: --url and --ca-fingerprint are required (or enrolment.url / enrolment.caFingerprint in the config)\n');
    return 1;
  }
  const store = new IdentityStore({ stateDir: ids.stateDir });
  const progress = opts.json ? undefined : (step: string) => process.stderr.write(`  ${step}\n`);
  try {
    const r = await enrol({ store, deviceId: ids.deviceId, storeId: ids.storeId, url, caFingerprint, token: opts.token, ...(progress ? { onProgress: progress } : {}) });
    const s = await store.status(ids.deviceId);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, ...s }, null, 2)}\n`);
    else process.stdout.write(`enrolled: ${s.subject}, issued by ${s.issuer}\n  serial ${s.serial}, valid until ${s.notAfter}\n  store ${r.storeId}; the box renews the certificate by itself\n`);
    return 0;
  } catch (err) {
    const e = err instanceof EnrolError ? err : undefined;
    const code = e?.code ?? 'TB_INTERNAL';
    const message = (err as Error).message;
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: false, code, message, ...(e?.retryAfterS ? { retryAfterS: e.retryAfterS } : {}) }, null, 2)}\n`);
    else if (code === EnrolErrorCode.Pending) {
      const pairing = (await store.status(ids.deviceId)).pairingCode;
      process.stderr.write(`waiting for approval at HQ: pairing code ${pairing}\n  (tillbox-hq pairing approve ${pairing} --store STORE; the running box keeps asking by itself)\n`);
    } else process.stderr.write(`tillbox enroll: ${message} [${code}]\n`);
    return EXIT[code] ?? 1;
  }
}

export async function runIdentityShow(opts: { config?: string; stateDir?: string; json?: boolean }): Promise<number> {
  const ids = boxIds(opts);
  const store = new IdentityStore({ stateDir: ids.stateDir });
  const s = await store.status(ids.deviceId, Date.now(), ids.enrolment.url ? { estUrl: ids.enrolment.url } : {});
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const lines = [`device ${s.deviceId}: ${s.state}`];
  if (s.subject)
    lines.push(`  subject ${s.subject}`, `  issuer  ${s.issuer}`, `  serial  ${s.serial}`, `  valid   ${s.notBefore} .. ${s.notAfter} (${s.daysLeft} days left)`, `  sha256  ${s.fingerprint}`);
  if (s.pairingCode) lines.push(`  pairing code ${s.pairingCode} (approve at HQ: tillbox-hq pairing approve ${s.pairingCode} --store STORE)`);
  if (s.state === 'unenrolled') lines.push('  enrol with: tillbox enroll --url https://HQ:PORT --token TOKEN --ca-fingerprint SHA256');
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
