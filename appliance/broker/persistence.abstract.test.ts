import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// aedes-persistence/abstract.js is written for node:test; run it in a child
// and read the TAP summary rather than re-implementing its harness.
describe('OrderedLevelPersistence and the aedes-persistence abstract suite', () => {
  it('passes every test of the abstract suite with both fsync policies', () => {
    const runner = fileURLToPath(new URL('./abstract-suite.runner.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', runner], { encoding: 'utf8', timeout: 120_000 });
    const count = (name: string): number => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
    const failures = r.stdout.split('\n').filter((l) => /^\s*not ok/.test(l));
    expect(failures).toEqual([]);
    expect(count('fail')).toBe(0);
    expect(count('pass')).toBeGreaterThanOrEqual(96);
    expect(r.status).toBe(0);
  }, 150_000);
});
