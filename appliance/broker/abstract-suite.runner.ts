// Runs aedes-persistence's abstract suite (the contract every aedes persistence
// must meet) against OrderedLevelPersistence. It is written for node:test, so
// persistence.abstract.test.ts runs this file with `node --test`.
import test from 'node:test';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { OrderedLevelPersistence } from './persistence.ts';

const require = createRequire(import.meta.url);
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: object) => void;

const root = mkdtempSync(join(tmpdir(), 'tillbox-abstract-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
let n = 0;

for (const sync of ['never', 'batch'] as const) {
  void test.describe(`OrderedLevelPersistence (sync: ${sync})`, () => {
    abstractPersistence({
      test,
      testAsync: true,
      persistence: () => new OrderedLevelPersistence({ db: new Level<string, Buffer>(join(root, String(n++)), { valueEncoding: 'buffer' }), sync }),
    });
  });
}
