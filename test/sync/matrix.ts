import type { CloudOptions } from './cloud.ts';

// Which broker × database combinations the end-to-end sync tests run on.
// Issue 3 §3: embedded aedes AND real Mosquitto 2, PGlite AND real
// PostgreSQL 15; in CI they must run, never skip (the helpers throw, naming
// the setup script, when a binary is missing). Two cells keep the suite
// inside its time budget while covering every engine: aedes + PGlite (the
// demo setup) and Mosquitto + PostgreSQL (production-like).

export function cloudMatrix(): CloudOptions[] {
  return [
    { broker: 'aedes', db: 'pglite' },
    { broker: 'mosquitto', db: 'postgres' },
  ];
}
