import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

// `npm test` on a fresh machine (Node and npm only): the Debian packages the
// tests use as real peers (Mosquitto, PostgreSQL, Chromium, socat, fuse3,
// python3-fusepy, libusb) come from scripts/setup-system.sh, the one list. As
// root it installs what is missing; otherwise the run stops here with one
// line that names the command, instead of nine files failing one by one.
export default function setup(): void {
  const script = resolve(import.meta.dirname, '../scripts/setup-system.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status === 0) return;
  const why = (r.stderr || r.stdout).trim().split('\n').at(-1) ?? 'setup-system.sh failed';
  throw new Error(`tillbox tests need Debian packages: ${why} (sudo bash scripts/setup-system.sh)`);
}
