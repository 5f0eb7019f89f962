// Public surface of the journal module.
export type * from './types.ts';
export { LevelJournal, type LevelJournalOptions, type JournalStats } from './level-journal.ts';
export { verifyJournal, type OfflineVerifyResult, type VerifyJournalOptions } from './verify.ts';
export { canonicalJson, requestHash, sha256Hex } from './hash.ts';
export { HybridClock, compareHlc, encodeHlc, parseHlc, type HlcTimestamp } from './hlc.ts';
