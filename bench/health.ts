import { startBox, call } from '../harness/box.ts';
import { MachineProbe } from '../appliance/health/machine.ts';
import { percentile } from './stats.ts';

// Health telemetry: the cost of one machine sample (wall and CPU), what that
// means for one core at the default 60 s interval, and the size of the health
// document a real demo core produces (what goes to the cloud each interval).

export interface HealthBenchResult {
  sampleMs: number;
  sampleCpuMs: number;
  firstSampleMs: number;
  cpuPctAt60s: number;
  messageBytes: number;
}

export async function benchHealth(): Promise<HealthBenchResult> {
  const probe = new MachineProbe({ stateDir: process.cwd() });
  let t = performance.now();
  await probe.sample();
  const firstSampleMs = performance.now() - t;
  const walls: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < 500; i++) {
    t = performance.now();
    await probe.sample();
    walls.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(c0);
  const sampleCpuMs = (cpu.user + cpu.system) / 1000 / 500;
  const box = await startBox();
  let messageBytes = 0;
  try {
    const r = await call(box.port, 'GET', '/api/v1/health');
    messageBytes = Buffer.byteLength(r.body);
  } finally {
    await box.stop();
  }
  return {
    sampleMs: Math.round(percentile(walls, 50) * 1000) / 1000,
    sampleCpuMs: Math.round(sampleCpuMs * 1000) / 1000,
    firstSampleMs: Math.round(firstSampleMs),
    // One sample a minute, plus the 5 s alert re-checks (cheaper; counted as samples to be safe).
    cpuPctAt60s: Math.round(((sampleCpuMs * 13) / 60_000) * 100 * 10_000) / 10_000,
    messageBytes,
  };
}
