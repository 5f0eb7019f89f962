// The flows test harness lives in harness/flows.ts (bench/flows.ts uses it too).
export * from '../../harness/flows.ts';
