import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceCa } from '../cloud/est/ca.ts';

// A Mosquitto 2 device listener for tests and benchmarks (README, "Certificates"):
// client certificates from HQ's device CA required, the certificate's CN as the
// username, optionally a CRL and a %u ACL. Writes the files into `dir` readable
// by the mosquitto user (a test directory only: the server key is 0644) and
// returns the mosquitto.conf lines.

export const DEVICE_ACL = ['pattern readwrite tillbox/v1/%u/#', 'pattern readwrite fleet/%u/#'];

export async function deviceListener(ca: DeviceCa, dir: string, port: number, opts: { crl?: boolean; acl?: boolean } = {}): Promise<string[]> {
  chmodSync(dir, 0o755);
  const server = await ca.issueServer(['localhost', '127.0.0.1'], 86_400_000);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    return join(dir, name);
  };
  const lines = [
    `listener ${port} 127.0.0.1`,
    `cafile ${file('ca.crt', ca.certPem)}`,
    `certfile ${file('server.crt', server.certPem)}`,
    `keyfile ${file('server.key', server.keyPem)}`,
    'require_certificate true',
    'use_identity_as_username true',
  ];
  if (opts.crl) lines.push(`crlfile ${file('crl.pem', await ca.crl([], 86_400_000))}`);
  if (opts.acl) lines.push(`acl_file ${file('acl', `${DEVICE_ACL.join('\n')}\n`)}`);
  return lines;
}
