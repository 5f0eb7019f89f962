// `npm run faults`: the whole storage fault campaign. Prints one row per
// scenario (runs, acknowledged, lost, duplicated, seq gaps, seconds to
// recover) and writes bench/results/faults.json. Exit 1 on any violation.
//   npm run faults -- --runs 20 --only powerCut
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { canUseFaultFs } from './faultfs.ts';
import { SCENARIOS, type ScenarioResult } from './scenarios.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, only: { type: 'string' }, quiet: { type: 'boolean', default: false } } });
if (!canUseFaultFs) {
  console.error('faults: needs root, /dev/fuse and python3-fusepy (sudo bash scripts/setup-system.sh)');
  process.exit(2);
}
const runs = Number(values.runs);
const log = values.quiet ? undefined : (line: string) => console.log(line);
const results: ScenarioResult[] = [];
for (const [name, scenario] of Object.entries(SCENARIOS)) {
  if (values.only && values.only !== name) continue;
  console.log(`${name}: ${runs} runs`);
  const t0 = Date.now();
  try {
    results.push({ ...(await scenario({ runs, ...(log ? { log } : {}) })), seconds: Math.round((Date.now() - t0) / 1000) } as ScenarioResult);
  } catch (err) {
    results.push({
      scenario: name,
      runs,
      acknowledged: 0,
      lost: 0,
      duplicated: 0,
      changed: 0,
      seqGaps: 0,
      hlcRegressions: 0,
      brokerLost: 0,
      brokerAcked: 0,
      recoverSecondsMax: 0,
      notes: [],
      violations: [`crashed: ${(err as Error).stack ?? String(err)}`],
    });
  }
}

const rows = [['scenario', 'runs', 'acked', 'lost', 'dup', 'seq gaps', 'HLC back', 'QoS1 acked', 'QoS1 lost', 'recover s', 'ok']];
for (const r of results) {
  rows.push(
    [r.scenario, r.runs, r.acknowledged, r.lost, r.duplicated, r.seqGaps, r.hlcRegressions, r.brokerAcked, r.brokerLost, r.recoverSecondsMax, r.violations.length === 0 ? 'yes' : 'NO'].map(String),
  );
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
for (const r of results) {
  for (const v of r.violations) console.log(`VIOLATION ${r.scenario}: ${v}`);
  if (!values.quiet) for (const n of r.notes) console.log(`  note ${r.scenario}: ${n}`);
}
const out = resolve(import.meta.dirname, '../../bench/results/faults.json');
mkdirSync(resolve(out, '..'), { recursive: true });
writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), runsPerScenario: runs, results }, null, 2) + '\n');
console.log(`wrote ${out}`);
process.exit(results.some((r) => r.violations.length > 0) ? 1 : 0);
