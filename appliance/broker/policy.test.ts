import { describe, expect, it } from 'vitest';
import { AccountTable, ConnectionRateLimiter, clientIdAllowed, decideConnect, effectiveKeepalive, isLoopbackAddress } from './policy.ts';
import { PacketSizeScanner, PacketTooLargeError } from './packet-guard.ts';

const accounts = new AccountTable([
  { username: 'devices', password: 'd-secret', role: 'devices' },
  { username: 'kiosk-1', password: 'k-secret', role: 'kiosk' },
]);
const policy = (enabled: boolean) => ({ accounts, anonymousLoopback: { enabled, role: 'kiosk' as const } });

describe('broker connection policy', () => {
  it('treats 127.0.0.0/8, ::1 and their mapped forms as loopback and nothing else', () => {
    for (const a of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', '', undefined]) expect(isLoopbackAddress(a)).toBe(false);
  });

  it('refuses anonymous clients from a non-loopback address with "not authorized" even when loopback anonymous is on', () => {
    expect(decideConnect(policy(true), '192.168.1.20', 'anonymous-x', undefined, undefined)).toMatchObject({ ok: false, returnCode: 5 });
  });

  it('accepts anonymous loopback clients only when enabled, with the configured role and an anonymous- client id', () => {
    expect(decideConnect(policy(false), '127.0.0.1', 'anonymous-x', undefined, undefined)).toMatchObject({ ok: false, returnCode: 5 });
    expect(decideConnect(policy(true), '127.0.0.1', 'anonymous-x', undefined, undefined)).toMatchObject({ ok: true, identity: { role: 'kiosk' } });
    expect(decideConnect(policy(true), '127.0.0.1', 'devices', undefined, undefined)).toMatchObject({ ok: false, returnCode: 2 });
  });

  it('refuses a wrong password or an unknown user with "bad user name or password"', () => {
    expect(decideConnect(policy(true), '10.0.0.2', 'devices', 'devices', 'nope')).toMatchObject({ ok: false, returnCode: 4 });
    expect(decideConnect(policy(true), '10.0.0.2', 'ghost', 'ghost', 'd-secret')).toMatchObject({ ok: false, returnCode: 4 });
    expect(decideConnect(policy(true), '10.0.0.2', 'devices', 'devices', 'd-secret')).toMatchObject({ ok: true, identity: { role: 'devices' } });
  });

  it('binds the client id to the username so one identity cannot take over another session', () => {
    expect(clientIdAllowed('devices', 'devices')).toBe(true);
    expect(clientIdAllowed('devices-host', 'devices')).toBe(true);
    expect(clientIdAllowed('devices:scale', 'devices')).toBe(true);
    expect(clientIdAllowed('devicesX', 'devices')).toBe(false);
    expect(clientIdAllowed('kiosk-1', 'devices')).toBe(false);
    expect(clientIdAllowed('', 'devices')).toBe(false);
    expect(clientIdAllowed('anonymous', undefined)).toBe(false);
    expect(decideConnect(policy(true), '10.0.0.2', 'kiosk-1', 'devices', 'd-secret')).toMatchObject({ ok: false, returnCode: 2 });
  });

  it('rejects account tables that would make identities ambiguous', () => {
    expect(() => new AccountTable([{ username: 'anonymous', password: 'x', role: 'kiosk' }])).toThrow();
    expect(() => new AccountTable([{ username: 'a/b', password: 'x', role: 'kiosk' }])).toThrow();
    expect(() => new AccountTable([{ username: 'a', password: '', role: 'kiosk' }])).toThrow();
  });

  it('clamps non-loopback keepalive into bounds, turning 0 ("never") into the maximum, and leaves loopback alone', () => {
    expect(effectiveKeepalive(0, false, 5, 300)).toBe(300);
    expect(effectiveKeepalive(3600, false, 5, 300)).toBe(300);
    expect(effectiveKeepalive(1, false, 5, 300)).toBe(5);
    expect(effectiveKeepalive(60, false, 5, 300)).toBe(60);
    expect(effectiveKeepalive(0, true, 5, 300)).toBe(0);
  });

  it('limits new connections per address per minute and forgets them after the window', () => {
    const r = new ConnectionRateLimiter(3);
    expect([1, 2, 3, 4].map(() => r.allow('10.0.0.9', 1000))).toEqual([true, true, true, false]);
    expect(r.allow('10.0.0.8', 1000)).toBe(true);
    expect(r.allow('10.0.0.9', 62_000)).toBe(true);
  });
});

describe('MQTT packet size scanner', () => {
  it('passes packets up to the limit split across arbitrary chunks', () => {
    const s = new PacketSizeScanner(10);
    // PINGREQ (2 bytes) + PUBLISH with remaining length 8 (10 bytes total), fed byte by byte
    const bytes = Buffer.from([0xc0, 0x00, 0x30, 0x08, 0, 1, 0x61, 1, 2, 3, 4, 5]);
    for (const b of bytes) expect(s.feed(Buffer.from([b]))).toBeUndefined();
  });

  it('refuses a packet whose header announces more than the limit before its body arrives', () => {
    const s = new PacketSizeScanner(1024);
    // remaining length 268,435,455 (the §2.2.3 maximum): 0xff 0xff 0xff 0x7f
    expect(s.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))).toBeInstanceOf(PacketTooLargeError);
  });

  it('refuses a remaining length longer than four bytes as malformed', () => {
    const s = new PacketSizeScanner(1 << 30);
    expect(s.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toBeInstanceOf(Error);
  });
});
