import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, statSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { ROLES, type Role } from '../../contract/roles.ts';

// Per-device secrets, generated on the box the first time it starts: there is
// no universal default password (ETSI EN 303 645 provision 5.1-1). The file is
// 0600 in the 0700 state dir and is the only place they are written; they are
// shown on demand by `tillbox secrets show` and never logged.

const Account = Type.Object({ username: Type.String(), password: Type.String({ minLength: 16 }), role: Type.Union(ROLES.map((r) => Type.Literal(r))) });
const ApiToken = Type.Object({ name: Type.String(), token: Type.String({ minLength: 16 }), role: Type.Union([Type.Literal('till'), Type.Literal('manager')]) });

export const SecretsSchema = Type.Object({
  version: Type.Literal(1),
  createdAt: Type.String(),
  mqtt: Type.Array(Account),
  api: Type.Array(ApiToken),
});
export type Secrets = Static<typeof SecretsSchema>;
export type MqttAccount = Static<typeof Account>;
export type ApiTokenEntry = Static<typeof ApiToken>;

const validate = new Ajv({ allErrors: true }).compile<Secrets>(SecretsSchema);

/** 192 bits from the OS CSPRNG, URL-safe so it survives copy/paste and shells. */
export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function generateSecrets(now = new Date()): Secrets {
  return {
    version: 1,
    createdAt: now.toISOString(),
    // One MQTT account per role; the client id must be the username or start with `username-`.
    mqtt: ROLES.map((role: Role) => ({ username: role, password: newSecret(), role })),
    api: [
      { name: 'till-1', token: newSecret(), role: 'till' },
      { name: 'till-2', token: newSecret(), role: 'till' },
      { name: 'manager', token: newSecret(), role: 'manager' },
    ],
  };
}

export function readSecrets(file: string): Secrets {
  const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!validate(doc)) throw new Error(`${file} is not a valid secrets file: ${validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
  return doc;
}

/**
 * Returns the box's secrets, creating them on first start. Creation is atomic
 * (write temp, fsync, rename) so a crash never leaves a half-written file.
 */
export function loadOrCreateSecrets(file: string): { secrets: Secrets; created: boolean } {
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { secrets: readSecrets(file), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secrets = generateSecrets();
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(secrets, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(dirname(file));
  return { secrets, created: true };
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The device id: configured, or generated once and kept in the state dir. */
export function loadOrCreateDeviceId(file: string, configured?: string): string {
  if (configured) return configured;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = `tb-${randomBytes(6).toString('hex')}`;
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, id + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return id;
}
