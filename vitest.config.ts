import { defineConfig } from 'vitest/config';

// Many tests start real processes (boxes, brokers, PostgreSQL, Chromium) on a
// shared 2-core machine: generous time limits keep a slow machine from
// failing a correct test. Tests never assert on timing.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files run in separate processes; two at a time matches the machine.
    pool: 'forks',
    maxWorkers: 2,
    include: ['**/*.test.ts'],
    // Installs the Debian test peers when missing (as root), or stops with the command to run.
    globalSetup: ['test/global-setup.ts'],
    exclude: ['node_modules/**', '**/.tillbox/**'],
  },
});
