import { Level } from 'level';

// LevelDB damage, shared by the journal and the broker store. A flipped bit in
// a table file surfaces as LEVEL_CORRUPTION on open or on the read that hits
// the damaged block ("Corruption: corrupted compressed block contents"); left
// alone, one such block kept the box from starting at all (issue 8).

/** LevelDB found a damaged block, table or manifest (checksum, decompression, bad magic). */
export function isCorruptionError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'LEVEL_CORRUPTION' || /^Corruption:/.test(e.message)) return true;
  }
  return false;
}

/**
 * LevelDB's RepairDB on a closed database: rebuilds the manifest from every
 * table and log, salvaging each readable record and dropping unreadable
 * blocks. Callers report what went missing (the journal as missing seqs).
 */
export async function repairDb(dir: string): Promise<void> {
  // `level` is classic-level on Node; its typings omit the static repair().
  await (Level as unknown as { repair(location: string): Promise<void> }).repair(dir);
}
