import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialFile, ensureStateDir, statePaths } from './state-dir.ts';

describe('the state dir', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tillbox-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const modeOf = (p: string) => statSync(p).mode & 0o777;

  it('is created 0700', () => {
    const state = join(dir, 'state');
    ensureStateDir(state);
    expect(modeOf(state)).toBe(0o700);
  });

  it('is tightened when others or the group may read or write it', () => {
    for (const loose of [0o755, 0o750, 0o733, 0o770]) {
      chmodSync(dir, loose);
      ensureStateDir(dir);
      expect(modeOf(dir)).toBe(0o700);
    }
  });

  it('keeps search permission for others (0711): the image lets devices and flows reach their own dirs through it', () => {
    chmodSync(dir, 0o711);
    ensureStateDir(dir);
    expect(modeOf(dir)).toBe(0o711);
  });

  it('reads a secrets file from the systemd credentials dir when the service was handed one', () => {
    const paths = statePaths(dir);
    const creds = join(dir, 'creds');
    mkdirSync(creds);
    expect(credentialFile(paths.flowsSecrets, {})).toBe(paths.flowsSecrets);
    // The unit names the credential, but it is missing: fall back to the state dir.
    expect(credentialFile(paths.flowsSecrets, { CREDENTIALS_DIRECTORY: creds })).toBe(paths.flowsSecrets);
    writeFileSync(join(creds, 'flows-secrets.json'), '{}');
    expect(credentialFile(paths.flowsSecrets, { CREDENTIALS_DIRECTORY: creds })).toBe(join(creds, 'flows-secrets.json'));
  });
});
