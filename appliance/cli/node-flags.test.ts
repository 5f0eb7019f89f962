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
  it('names flags for the supervisor, each service and the reference HQ', () => {
    expect(commands.sort()).toEqual(['core', 'devices', 'flows', 'hq', 'start']);
  });

  // --lite-mode, for one, turns WebAssembly off and with it Node's type stripper.
  it.each(commands.filter((c) => c !== 'hq'))('lets a TypeScript checkout run `tillbox %s` (Node accepts the flags and can strip types)', (command) => {
    const out = execFileSync(process.execPath, [...nodeFlags(command), resolve(ROOT, 'appliance/cli/main.ts'), command, '--help'], { encoding: 'utf8' });
    expect(out).toContain('Usage: tillbox');
  });

  it('lets a TypeScript checkout load the reference HQ with its flags', () => {
    const script = `await import(${JSON.stringify(resolve(ROOT, 'cloud/hq/hq.ts'))}); console.log('loaded');`;
    const out = execFileSync(process.execPath, [...nodeFlags('hq'), '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('loaded');
  });
});
