import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// In a child process: Node loads a built-in module once per process.
function loadsUndici(importLine: string): boolean {
  const script = `${importLine}\nconsole.log(JSON.stringify(process.moduleLoadList.some((m) => m.includes('undici'))));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('lib/node-http', () => {
  it('serves createServer without loading Node’s bundled undici, which an ES import of node:http loads', () => {
    expect(loadsUndici(`import 'node:http';`)).toBe(true);
    expect(loadsUndici(`import { createServer } from ${JSON.stringify(new URL('./node-http.ts', import.meta.url).href)}; createServer().close();`)).toBe(false);
  });

  it('gives the same createServer as node:http', async () => {
    const { createServer } = await import('./node-http.ts');
    const http = await import('node:http');
    expect(createServer).toBe(http.createServer);
  });

  it('is how every box process gets node:http: no value import of node:http in their sources', () => {
    const root = resolve(import.meta.dirname, '..');
    const offenders: string[] = [];
    for (const dir of ['appliance', 'contract', 'drivers', 'flows', 'lib', 'provisioning']) {
      for (const f of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
        if (!/\.(ts|js|mjs)$/.test(f) || f.endsWith('.test.ts') || f.includes('node_modules')) continue;
        const text = readFileSync(join(root, dir, f), 'utf8');
        if (/^\s*(import|export)\s+(?!type\b)[^;]*?from\s+['"](node:)?http['"]/m.test(text)) offenders.push(relative(root, join(root, dir, f)));
      }
    }
    expect(offenders).toEqual([]);
  });
});
