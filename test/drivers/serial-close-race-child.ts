// Child for serial-close-race.test.ts: opens and stops a scale driver on a
// fresh pty simulator many times, stopping at random moments while a read is
// in flight. Before the fix this segfaulted in bindings-cpp's Poller::poll
// (a destroyed native poller polled again). Exits 0 when it survives.
import { autoDetect } from '@serialport/bindings-cpp';
import { ScaleSimulator } from '../../drivers/sim/scale.ts';
import { ScaleDriver, scaleProtocols } from '../../drivers/scale/scale.ts';
import type { ScaleProtocolName } from '../../drivers/scale/types.ts';
import { SerialTransport } from '../../drivers/transports/serial.ts';

const rounds = Number(process.argv[2] ?? 15);
const binding = autoDetect();
for (let i = 0; i < rounds; i++) {
  for (const protocol of Object.keys(scaleProtocols) as ScaleProtocolName[]) {
    const sim = await ScaleSimulator.start({ protocol, grams: 1234 });
    const transport = new SerialTransport({ path: sim.path, baudRate: 9600, framing: scaleProtocols[protocol].defaults.framing, binding });
    const driver = new ScaleDriver({ transport, protocol, pollIntervalMs: 20, responseTimeoutMs: 500 });
    driver.on('error', () => {});
    await driver.start();
    await new Promise((r) => setTimeout(r, Math.random() * 100));
    await driver.stop().catch(() => {});
    await sim.close().catch(() => {});
  }
}
process.stdout.write('survived\n');
