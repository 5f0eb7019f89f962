import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, chmodSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-file.ts';
import { Type, type Static } from '@sinclair/typebox';
import { compileSchema } from '../../lib/validate.ts';
import type { ValidateFunction } from 'ajv';
import { ROLES, type Role } from '../../contract/roles.ts';

// Per-device secrets, generated on the box the first time it starts: there is
// no universal default password (ETSI EN 303 645 provision 5.1-1). The file is
// 0600 in the 0700 state dir and is the only place they are written; they are
// shown on demand by `tillbox secrets show` and never logged.

const Account = Type.Object({ username: Type.String(), password: Type.String({ minLength: 16 }), role: Type.Union(ROLES.map((r) => Type.Literal(r))) });
const ApiToken = Type.Object({ name: Type.String(), token: Type.String({ minLength: 16 }), role: Type.Union([Type.Literal('till'), Type.Literal('manager')]) });

/**
 * The Node-RED editor's admin login (flows process) and the key that encrypts
 * its flows_cred.json. Node-RED's adminAuth wants a bcrypt hash; the plain
 * password is kept too so `tillbox secrets show` can hand it to the installer.
 */
const NodeRedSecrets = Type.Object({
  username: Type.String({ minLength: 1 }),
  password: Type.String({ minLength: 16 }),
  passwordHash: Type.String({ pattern: '^\\$2[aby]\\$\\d{2}\\$' }),
  credentialSecret: Type.String({ minLength: 32 }),
});

export const SecretsSchema = Type.Object({
  version: Type.Literal(1),
  createdAt: Type.String(),
  mqtt: Type.Array(Account),
  api: Type.Array(ApiToken),
  // Added after the first release: files written before it lack the field and
  // get it on their next load (loadOrCreateSecrets), atomically.
  nodeRed: Type.Optional(NodeRedSecrets),
});
export type Secrets = Static<typeof SecretsSchema>;
export type NodeRedAdminSecrets = Static<typeof NodeRedSecrets>;
/** What loadOrCreateSecrets returns: every field present. */
export type CompleteSecrets = Secrets & { nodeRed: NodeRedAdminSecrets };
export type MqttAccount = Static<typeof Account>;
export type ApiTokenEntry = Static<typeof ApiToken>;

const validate = compileSchema(SecretsSchema);

/** 192 bits from the OS CSPRNG, URL-safe so it survives copy/paste and shells. */
export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

// bcryptjs is the implementation Node-RED itself verifies the hash with; take
// the copy node-red depends on rather than whichever one happens to be hoisted.
const requireFromNodeRed = createRequire(import.meta.resolve('node-red'));

/** bcrypt hash as Node-RED's adminAuth expects (cost 10, `$2b$`). */
export function bcryptHash(password: string): string {
  const bcrypt = requireFromNodeRed('bcryptjs') as { hashSync(p: string, rounds: number): string };
  return bcrypt.hashSync(password, 10);
}

export function generateNodeRedSecrets(): NodeRedAdminSecrets {
  const password = newSecret();
  return { username: 'admin', password, passwordHash: bcryptHash(password), credentialSecret: randomBytes(32).toString('hex') };
}

export function generateSecrets(now = new Date()): CompleteSecrets {
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
    nodeRed: generateNodeRedSecrets(),
  };
}

/** Fields a file written by an older release lacks, filled in; undefined when complete. */
function upgrade(secrets: Secrets): CompleteSecrets | undefined {
  if (secrets.nodeRed) return undefined;
  return { ...secrets, nodeRed: generateNodeRedSecrets() };
}

const isComplete = (s: Secrets): s is CompleteSecrets => s.nodeRed !== undefined;

export function readSecrets(file: string): Secrets {
  const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!validate(doc)) throw new Error(`${file} is not a valid secrets file: ${validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
  return doc;
}

/**
 * Returns the box's secrets, creating them on first start and adding fields a
 * file from an older release lacks. Every write is atomic (write temp, fsync,
 * rename, fsync dir) so a crash never leaves a half-written file, and happens
 * under an exclusive lock file so two processes starting at once (core and
 * flows) cannot each generate different values: the loser re-reads.
 */
export function loadOrCreateSecrets(file: string): { secrets: CompleteSecrets; created: boolean } {
  const result = loadOrCreateAll(file);
  writeIfStale(flowsSecretsFileOf(file), flowsSecretsOf(result.secrets));
  writeIfStale(devicesSecretsFileOf(file), devicesSecretsOf(result.secrets));
  return result;
}

function loadOrCreateAll(file: string): { secrets: CompleteSecrets; created: boolean } {
  const existing = readIfPresent(file);
  if (existing && isComplete(existing)) return { secrets: existing, created: false };
  return withLock(file, () => {
    const current = readIfPresent(file);
    if (current) {
      if (isComplete(current)) return { secrets: current, created: false };
      const upgraded = upgrade(current)!;
      writeAtomic(file, upgraded);
      return { secrets: upgraded, created: false };
    }
    const secrets = generateSecrets();
    writeAtomic(file, secrets);
    return { secrets, created: true };
  });
}

function readIfPresent(file: string): Secrets | undefined {
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) chmodSync(file, 0o600);
    return readSecrets(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}

function writeAtomic(file: string, secrets: Secrets): void {
  // Durable: a box that lost its secrets after a power cut would lock out every till and service.
  writeFileAtomicSync(file, JSON.stringify(secrets, null, 2) + '\n', { durability: 'durable', mode: 0o600 });
}

/** A lock older than this is left over from a crash and is broken. */
const STALE_LOCK_MS = 10_000;

function withLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { force: true });
      } catch {
        // released meanwhile
      }
      Atomics.wait(sleeper, 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

// ---------------------------------------------------------------- flows' own secrets

/**
 * What the flows process (integrator code, issue 9) may know: its own MQTT
 * account and the editor's login hash and credential key, in a file of its
 * own beside secrets.json. The flows process is allowed to read this file
 * and not secrets.json (Node's permission model; on the image a separate
 * unix user), so a flow that escapes Node-RED's vm cannot learn core's or
 * devices' broker passwords or the tills' API tokens.
 */
export const FlowsSecretsSchema = Type.Object({
  version: Type.Literal(1),
  mqtt: Account,
  nodeRed: Type.Object({ username: Type.String({ minLength: 1 }), passwordHash: Type.String({ pattern: '^\\$2[aby]\\$\\d{2}\\$' }), credentialSecret: Type.String({ minLength: 32 }) }),
});
export type FlowsSecrets = Static<typeof FlowsSecretsSchema>;
const validateFlows = compileSchema(FlowsSecretsSchema);

/** `<state dir>/flows-secrets.json`, beside secrets.json. */
export function flowsSecretsFileOf(secretsFile: string): string {
  return join(dirname(secretsFile), 'flows-secrets.json');
}

function flowsSecretsOf(s: CompleteSecrets): FlowsSecrets {
  const account = s.mqtt.find((a) => a.role === 'flows');
  if (!account) throw new Error('the secrets have no flows account');
  const { username, passwordHash, credentialSecret } = s.nodeRed;
  return { version: 1, mqtt: account, nodeRed: { username, passwordHash, credentialSecret } };
}

/** A service's own secrets file, rewritten only when its content changed. */
function writeIfStale(file: string, doc: FlowsSecrets | DevicesSecrets): void {
  const want = JSON.stringify(doc, null, 2) + '\n';
  try {
    if (readFileSync(file, 'utf8') === want) return;
  } catch {
    // missing: written below
  }
  // Durable like secrets.json: the service cannot log in without it.
  writeFileAtomicSync(file, want, { durability: 'durable', mode: 0o600 });
}

/** For the flows process: its own secrets only (written by core at first start). */
export function readFlowsSecrets(file: string): FlowsSecrets {
  return readServiceSecrets(file, validateFlows, 'flows');
}

/** A service's own secrets file, read and checked against its schema. */
function readServiceSecrets<T>(file: string, validate: ValidateFunction<T>, service: string): T {
  const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!validate(doc)) throw new Error(`${file} is not a valid ${service} secrets file: ${validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
  return doc;
}

// ---------------------------------------------------------------- devices' own secrets

/**
 * What the devices process needs: its own MQTT account and one till token
 * (to fetch a sale for a reprint), in a file of its own. On the image systemd
 * hands the devices unit this file, not secrets.json, so a driver or addon
 * gone bad cannot log in to the broker as core or admin, act as a manager,
 * or open the Node-RED editor.
 */
export const DevicesSecretsSchema = Type.Object({
  version: Type.Literal(1),
  mqtt: Account,
  till: Type.Optional(Type.Object({ token: Type.String({ minLength: 16 }) })),
});
export type DevicesSecrets = Static<typeof DevicesSecretsSchema>;
const validateDevices = compileSchema(DevicesSecretsSchema);

/** `<state dir>/devices-secrets.json`, beside secrets.json. */
export function devicesSecretsFileOf(secretsFile: string): string {
  return join(dirname(secretsFile), 'devices-secrets.json');
}

function devicesSecretsOf(s: CompleteSecrets): DevicesSecrets {
  const account = s.mqtt.find((a) => a.role === 'devices');
  if (!account) throw new Error('the secrets have no devices account');
  const till = s.api.find((t) => t.role === 'till');
  return { version: 1, mqtt: account, ...(till ? { till: { token: till.token } } : {}) };
}

/** For the devices process: its own secrets only (written by core at every start). */
export function readDevicesSecrets(file: string): DevicesSecrets {
  return readServiceSecrets(file, validateDevices, 'devices');
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
  // Durable: the device id names every journal event; it must never change after a power cut.
  writeFileAtomicSync(file, id + '\n', { durability: 'durable', mode: 0o644 });
  return id;
}
