import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFlags } from '../../appliance/cli/node-flags.ts';

// `tillbox start` lives as long as the box: it must stay small (issue 14), and
// every box process runs with the V8 flags measured for it (bin/node-flags).

const ROOT = resolve(import.meta.dirname, '../..');

/** Package names of every module a fresh Node loads for `specifier`. */
function packagesLoadedBy(specifier: string): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = new Set();
    registerHooks({ load(url, ctx, next) { const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(url); if (m) seen.add(m[1]); return next(url, ctx); } });
    await import(${JSON.stringify(specifier)});
    console.log(JSON.stringify([...seen]));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })) as string[];
}

describe('the tillbox start supervisor', () => {
  it('loads neither the config stack nor the pretty printer', () => {
    const loaded = packagesLoadedBy(resolve(ROOT, 'appliance/cli/start.ts'));
    for (const heavy of ['@sinclair/typebox', 'ajv', 'yaml', 'pino-pretty', 'fastify', 'aedes', 'mqtt', 'node-red']) expect(loaded).not.toContain(heavy);
  });

  it('has V8 flags for every process, and bin/tillbox passes a command its own', () => {
    for (const command of ['start', 'core', 'devices', 'flows', 'hq']) expect(nodeFlags(command).length).toBeGreaterThan(0);
    // TILLBOX_NODE=echo prints the command line bin/tillbox would run.
    const run = (...args: string[]) =>
      execFileSync('sh', [resolve(ROOT, 'bin/tillbox'), ...args], { env: { ...process.env, TILLBOX_NODE: 'echo' }, encoding: 'utf8' })
        .trim()
        .split(' ');
    const core = run('core', '--demo');
    expect(core.slice(0, nodeFlags('core').length)).toEqual(nodeFlags('core'));
    expect(core.slice(-2)).toEqual(['core', '--demo']);
    expect(run('config', 'check', 'x.yaml')[0]).toMatch(/main\.(ts|js)$/);
  });
});
