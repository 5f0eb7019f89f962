// The image's power-cut check (image/boot-test.sh), with the same tills and
// the same checker as the storage fault campaign (test/faults/tills.ts):
//   sell:   tills sell through the forwarded API; after --cut-after-s the qemu
//           process is killed with SIGKILL (the guest's page cache is lost, as
//           in a power cut) while they sell; what each till heard goes to --state.
//   verify: after the next boot, sales whose outcome a till never heard are
//           retried with the same key (as a real till does), then every
//           acknowledged sale must exist exactly once with the id and seq it
//           was acknowledged with, seq gap-free, HLC increasing.
//   node image/power-cut.ts sell --port P --till TOKEN --cut-pid PID --state FILE [--tills 3] [--cut-after-s 8]
//   node image/power-cut.ts verify --port P --till TOKEN --manager TOKEN --state FILE
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Tills } from '../test/faults/tills.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    till: { type: 'string' },
    manager: { type: 'string' },
    state: { type: 'string' },
    'cut-pid': { type: 'string' },
    'cut-after-s': { type: 'string', default: '8' },
    tills: { type: 'string', default: '3' },
  },
});

function need(name: keyof typeof values): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') {
    console.error(`power-cut: --${name} is required`);
    process.exit(2);
  }
  return v;
}

const port = Number(need('port'));
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const stateFile = need('state');

if (positionals[0] === 'sell') {
  const pid = Number(need('cut-pid'));
  const tills = new Tills('cut', auth(need('till')));
  const cutAfterMs = Number(values['cut-after-s']) * 1000;
  let cutAt = Number.POSITIVE_INFINITY;
  const timer = setTimeout(() => {
    process.kill(pid, 'SIGKILL');
    cutAt = Date.now();
  }, cutAfterMs);
  // Keep selling 2 s past the cut: the sales in flight at the cut are the ones that matter.
  await tills.run(port, Number(values.tills), () => Date.now() > cutAt + 2000, 5000);
  clearTimeout(timer);
  writeFileSync(stateFile, JSON.stringify(tills.toJSON()));
  console.log(JSON.stringify({ acknowledged: tills.acked.size, unknown: tills.unknown.size }));
} else if (positionals[0] === 'verify') {
  const tills = Tills.fromJSON(JSON.parse(readFileSync(stateFile, 'utf8')), auth(need('till')));
  const unknownBefore = tills.unknown.size;
  await tills.settle(port);
  const v = await tills.verdict({ port }, auth(need('manager')));
  const report = { ...v, retriedAfterBoot: unknownBefore, lost: v.lost.length, duplicated: v.duplicated.length, changed: v.changed.length };
  console.log(JSON.stringify(report));
  const bad = v.acknowledged === 0 || v.lost.length > 0 || v.duplicated.length > 0 || v.changed.length > 0 || v.seqGaps > 0 || v.hlcRegressions > 0;
  if (bad) {
    console.error(`power-cut: FAILED ${JSON.stringify(v)}`);
    process.exit(1);
  }
} else {
  console.error('power-cut: usage: node image/power-cut.ts sell|verify --port P --till TOKEN ... (see the header)');
  process.exit(2);
}
