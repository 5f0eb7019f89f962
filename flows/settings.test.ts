import { describe, expect, it } from 'vitest';
import { buildSettings, FlowsConfigError, HARDENED_EXCLUDED_NODES, type FlowsOptions } from './settings.ts';

const opts = (o: Partial<FlowsOptions> = {}): FlowsOptions => ({
  stateDir: '/var/lib/tillbox',
  host: '127.0.0.1',
  port: 1880,
  hardened: true,
  admin: { username: 'admin', passwordHash: '$2b$10$abcdefghijklmnopqrstuuJ7r6cV9pQy3d3p9o1qgkq2Qw8b3Yh0y' },
  credentialSecret: 'x'.repeat(64),
  broker: { url: 'mqtt://127.0.0.1:1883', username: 'flows', password: 'p'.repeat(32) },
  storeId: 'berlin-01',
  functionTimeoutSec: 10,
  ...o,
});

describe('Node-RED settings', () => {
  it('hardened: admin login required, nothing installable, no exec/file nodes, no phoning home, fixed flows file', () => {
    const s = buildSettings(opts()) as any;
    expect(s.flowFile).toBe('/var/lib/tillbox/flows/flows.json');
    expect(s.userDir).toBe('/var/lib/tillbox/flows');
    expect(s.adminAuth.type).toBe('credentials');
    expect(s.adminAuth.default).toBeUndefined();
    expect(s.adminAuth.users).toEqual([{ username: 'admin', password: opts().admin.passwordHash, permissions: '*' }]);
    expect(s.credentialSecret).toBe('x'.repeat(64));
    expect(s.externalModules.palette.allowInstall).toBe(false);
    expect(s.externalModules.palette.allowUpload).toBe(false);
    expect(s.externalModules.modules.allowInstall).toBe(false);
    expect(s.externalModules.autoInstall).toBe(false);
    expect(s.functionExternalModules).toBe(false);
    expect(s.nodesExcludes).toEqual([...HARDENED_EXCLUDED_NODES]);
    expect(s.telemetry).toEqual({ enabled: false, updateNotification: false });
    expect(s.diagnostics.enabled).toBe(false);
    expect(s.httpNodeRoot).toBe(false);
    expect(s.globalFunctionTimeout).toBe(10);
    expect(s.editorTheme.projects.enabled).toBe(false);
  });

  it('refuses a LAN editor without TLS, and accepts it with TLS (https required)', () => {
    expect(() => buildSettings(opts({ host: '0.0.0.0' }))).toThrow(FlowsConfigError);
    expect(() => buildSettings(opts({ host: '192.168.1.20' }))).toThrow(/only over TLS/);
    expect((buildSettings(opts({ host: '0.0.0.0', tls: { key: 'k', cert: 'c' } })) as any).requireHttps).toBe(true);
  });

  it('refuses a plain-text admin password', () => {
    expect(() => buildSettings(opts({ admin: { username: 'admin', passwordHash: 'hunter2' } }))).toThrow(/bcrypt/);
  });
});
