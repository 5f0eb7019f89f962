import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { BoxCode } from '../harness/box.ts';

// The box as it ships runs JavaScript compiled at build time (image/build.sh,
// the Dockerfile: scripts/compile-js.sh), not TypeScript under Node's type
// stripper. The benchmarks measure that form in a compiled copy of this
// checkout's working tree: the sources copied, node_modules hard-linked (no
// bytes copied), then compiled in place by the same script the image uses.

const ROOT = resolve(import.meta.dirname, '..');
const SOURCES = ['bin', 'appliance', 'cloud', 'contract', 'drivers', 'flows', 'lib', 'provisioning', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

export function compiledCopy(parent = tmpdir()): BoxCode & { remove(): void } {
  const root = mkdtempSync(join(parent, 'tillbox-compiled-'));
  // Tracked and new files of the working tree (what is being measured), without tests.
  const files = execFileSync('git', ['ls-files', '-z', '-co', '--exclude-standard', ...SOURCES], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.endsWith('.test.ts'));
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(root, f));
  }
  execFileSync('cp', ['-al', join(ROOT, 'node_modules'), join(root, 'node_modules')]);
  execFileSync('bash', [join(ROOT, 'scripts/compile-js.sh'), root], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { root, ext: '.js', remove: () => rmSync(root, { recursive: true, force: true }) };
}
