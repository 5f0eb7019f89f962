import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_KEYS, loadConfig } from './index.ts';

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-config-'));
  const f = join(dir, 'tillbox.yaml');
  writeFileSync(f, text);
  return f;
}

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills every default from an empty environment and no file', () => {
    const c = loadConfig({ env: {} });
    expect(c.version).toBe(1);
    expect(c.http.port).toBe(8080);
    expect(c.mqtt.port).toBe(1883);
    expect(c.mqtt.tls.port).toBe(8883);
    expect(c.mqtt.anonymousLoopback).toBe(false);
    expect(c.demo).toBe(false);
  });

  it('reads a YAML file with version 1 and keeps defaults for the rest', () => {
    const c = loadConfig({ file: file('version: 1\nstore:\n  id: berlin-01\nhttp:\n  port: 9000\n'), env: {} });
    expect(c.store.id).toBe('berlin-01');
    expect(c.http.port).toBe(9000);
    expect(c.http.host).toBe('127.0.0.1');
  });

  it('lets TILLBOX_HTTP_PORT, TILLBOX_MQTT_PORT, TILLBOX_STORE_ID and TILLBOX_DEVICE_ID override the file', () => {
    const c = loadConfig({
      file: file('version: 1\nstore: { id: from-file }\nhttp: { port: 9000 }\n'),
      env: { TILLBOX_HTTP_PORT: '9100', TILLBOX_MQTT_PORT: '11883', TILLBOX_STORE_ID: 'from-env', TILLBOX_DEVICE_ID: 'box-7' },
    });
    expect(c.http.port).toBe(9100);
    expect(c.mqtt.port).toBe(11883);
    expect(c.store.id).toBe('from-env');
    expect(c.device.id).toBe('box-7');
  });

  it('derives an environment variable for every key in upper snake case', () => {
    const names = ENV_KEYS.map((k) => k.name);
    expect(names).toContain('TILLBOX_MQTT_TLS_CERT_FILE');
    expect(names).toContain('TILLBOX_MQTT_LIMITS_MAX_PACKET_SIZE');
    expect(names).toContain('TILLBOX_HTTP_BODY_LIMIT_BYTES');
    expect(new Set(names).size).toBe(names.length);
  });

  it('reports every problem of a bad file at once, each naming its field path', () => {
    const issues = issuesOf(() => loadConfig({ file: file('version: 1\nhttp:\n  port: 70000\n  prot: 1\nmqtt:\n  tls:\n    port: "x"\nstore:\n  id: "has space"\n'), env: {} }));
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['http.port', 'http.prot', 'mqtt.tls.port', 'store.id']));
    expect(issues.find((i) => i.path === 'http.prot')?.message).toBe('unknown key');
  });

  it('refuses an anonymous role that could publish POS events or read everything, naming the field', () => {
    for (const role of ['core', 'admin', 'flows', 'devices']) {
      const issues = issuesOf(() => loadConfig({ file: file(`version: 1\nmqtt: { anonymousRole: ${role} }\n`), env: {} }));
      expect(issues.map((i) => i.path)).toContain('mqtt.anonymousRole');
    }
    expect(loadConfig({ file: file('version: 1\nmqtt: { anonymousRole: kiosk }\n'), env: {} }).mqtt.anonymousRole).toBe('kiosk');
  });

  it('refuses a file without version 1', () => {
    expect(issuesOf(() => loadConfig({ file: file('version: 2\n'), env: {} }))).toEqual([{ path: 'version', message: 'must be 1' }]);
    expect(issuesOf(() => loadConfig({ file: file('store: { id: a }\n'), env: {} }))).toEqual([{ path: 'version', message: 'is required' }]);
  });

  it('explains YAML syntax errors with a line number', () => {
    const [issue] = issuesOf(() => loadConfig({ file: file('version: 1\nhttp:\n  port: [1,\n'), env: {} }));
    expect(issue?.message).toMatch(/not valid YAML \(line \d+/);
  });

  it('refuses a document that is not a mapping', () => {
    expect(issuesOf(() => loadConfig({ file: file('- a\n- b\n'), env: {} }))[0]?.message).toMatch(/mapping/);
  });

  it('names the environment variable when an override cannot be parsed', () => {
    const issues = issuesOf(() => loadConfig({ env: { TILLBOX_HTTP_PORT: 'eighty', TILLBOX_MQTT_TLS_ENABLED: 'maybe' } }));
    expect(issues).toEqual([
      { path: 'http.port', message: 'TILLBOX_HTTP_PORT="eighty" is not a number' },
      { path: 'mqtt.tls.enabled', message: 'TILLBOX_MQTT_TLS_ENABLED="maybe" is not a boolean (true/false)' },
    ]);
  });

  it('validates values that came from the environment like values from the file', () => {
    expect(issuesOf(() => loadConfig({ env: { TILLBOX_HTTP_PORT: '-1' } }))[0]?.path).toBe('http.port');
  });

  it('says clearly when the file cannot be read', () => {
    expect(() => loadConfig({ file: '/nonexistent/tillbox.yaml', env: {} })).toThrow(/cannot read config file \/nonexistent\/tillbox.yaml/);
  });
});

describe('peripherals in the config', () => {
  it('reports a duplicate id and a bad URI with their list positions', () => {
    const issues = issuesOf(() =>
      loadConfig({
        file: file('version: 1\nperipherals:\n  - { id: p1, kind: printer, uri: "tcp://127.0.0.1:9100" }\n  - { id: p1, kind: scanner, uri: "serial:///dev/ttyUSB0?baud=fast" }\n'),
        env: {},
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(['peripherals.1.id', 'peripherals.1.uri']));
  });
});

describe('a peripheral entry is shaped by its kind', () => {
  const check = (yaml: string) => issuesOf(() => loadConfig({ file: file(`version: 1\nperipherals:\n${yaml}`), env: {} }));

  it('names a key that belongs to another kind, with the keys this kind has', () => {
    expect(check('  - { id: s1, kind: scale, uri: "serial:///dev/ttyUSB0", mode: serial }\n')).toEqual([
      { path: 'peripherals.0.mode', message: 'unknown key (a scale entry has id, enabled, kind, uri, protocol)' },
    ]);
  });

  it('refuses an unknown or missing kind by naming the kind field', () => {
    expect(check('  - { id: t1, kind: toaster, uri: "tcp://h:9100" }\n')).toEqual([{ path: 'peripherals.0.kind', message: 'must be one of scanner, scale, printer, drawer, gpio' }]);
    expect(check('  - { id: t1, uri: "tcp://h:9100" }\n')).toEqual([{ path: 'peripherals.0.kind', message: 'is required' }]);
  });

  it('requires a uri of every kind but a drawer on a printer, and checks that printer exists', () => {
    expect(check('  - { id: p1, kind: printer }\n')).toEqual([{ path: 'peripherals.0.uri', message: 'is required' }]);
    expect(check('  - { id: d1, kind: drawer, printer: p9 }\n')).toEqual([{ path: 'peripherals.0.printer', message: '"p9" is not a configured printer' }]);
    const ok = loadConfig({ file: file('version: 1\nperipherals:\n  - { id: p1, kind: printer, uri: "tcp://h:9100" }\n  - { id: d1, kind: drawer, printer: p1, pin: 2 }\n'), env: {} });
    expect(ok.peripherals.map((p) => p.kind)).toEqual(['printer', 'drawer']);
  });

  it('fills the defaults of the chosen kind', () => {
    const c = loadConfig({ file: file('version: 1\nperipherals:\n  - { id: g1, kind: gpio, uri: "file:///sys/class/gpio/gpio17" }\n'), env: {} });
    expect(c.peripherals).toEqual([{ id: 'g1', kind: 'gpio', uri: 'file:///sys/class/gpio/gpio17', enabled: true }]);
  });
});
