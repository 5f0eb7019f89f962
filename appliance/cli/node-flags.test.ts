import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFlags } from './node-flags.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const commands = readFileSync(resolve(ROOT, 'bin/node-flags'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
  .map((l) => l.trim().split(/\s+/)[0]!);

describe('bin/node-flags', () => {
  it('names flags for the supervisor and each service', () => {
    expect(commands.sort()).toEqual(['core', 'devices', 'flows', 'start']);
  });

  // --lite-mode, for one, turns WebAssembly off and with it Node's type stripper.
  it.each(commands)('lets a TypeScript checkout run `tillbox %s` (Node accepts the flags and can strip types)', (command) => {
    const out = execFileSync(process.execPath, [...nodeFlags(command), resolve(ROOT, 'appliance/cli/main.ts'), command, '--help'], { encoding: 'utf8' });
    expect(out).toContain('Usage: tillbox');
  });
});
