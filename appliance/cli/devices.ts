import { setupProcess, untilSignalThenStop, type ProcessOptions } from './process-setup.ts';
import { isTillboxError } from '../../contract/errors.ts';
import { DevicesProcess } from '../devices/process.ts';
import { SdNotify } from '../../lib/sd-notify.ts';

export type DevicesOptions = ProcessOptions;

/**
 * `tillbox devices`: the devices process alone (a systemd unit on the image;
 * a child of `tillbox start` in development). Waits for core, then runs the
 * peripherals on core's broker as the `devices` role.
 */
export async function runDevices(opts: DevicesOptions): Promise<number> {
  const setup = setupProcess(opts);
  if (!setup) return 2;
  const { config, stateDir } = setup;
  const { log } = setup;
  const devices = new DevicesProcess({ config, stateDir, log });
  // On the image devices is a Type=notify unit with a watchdog, like core.
  const sd = new SdNotify({ healthy: () => devices.host !== undefined, onError: (err) => log.warn({ err }, 'systemd notification failed') });
  try {
    await devices.start();
  } catch (err) {
    log.fatal({ err }, 'devices process failed to start');
    console.error(`tillbox devices: failed to start: ${(err as Error).message}`);
    await devices.stop('failed to start').catch(() => {});
    log.flush();
    return isTillboxError(err) ? 2 : 1;
  }
  const lines = [
    `tillbox devices ready: store ${devices.storeId}, peripherals ${
      devices
        .host!.runners()
        .map((r) => r.spec.id)
        .join(', ') || '(none yet: plug one in)'
    }`,
  ];
  if (devices.demo) {
    lines.push(`  demo printer simulator ${devices.demo.printer.uri} (receipts appear here), scanner simulator ${devices.demo.scanner.path}`);
    lines.push(`  scan: publish store/${devices.storeId}/devices/scanner-1/cmd/simulate {"correlation":"1","args":{"code":"]E04006381333931"}}`);
  }
  console.log(lines.join('\n'));
  await sd.ready(`serving: store ${devices.storeId}`);
  await untilSignalThenStop(log, async () => {
    await sd.stopping();
    await devices.stop();
    log.flush();
  });
  return 0;
}
