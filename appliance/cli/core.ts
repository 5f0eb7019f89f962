import { setupProcess, untilSignalThenStop, type ProcessOptions } from './process-setup.ts';
import { isTillboxError } from '../../contract/errors.ts';
import { Core } from '../core/core.ts';
import { SdNotify } from '../../lib/sd-notify.ts';

export type CoreOptions = ProcessOptions;

/** `tillbox core`: the core process alone (a systemd unit on the image; a child of `tillbox start` in development). */
export async function runCore(opts: CoreOptions): Promise<number> {
  const t0 = performance.now();
  const setup = setupProcess(opts);
  if (!setup) return 2;
  const { config, stateDir } = setup;
  const { log } = setup;
  const core = new Core({ config, stateDir, log });
  // On the image core is a Type=notify unit with a watchdog: pings stop when the journal cannot take sales.
  const sd = new SdNotify({ healthy: () => core.runtime !== undefined, onError: (err) => log.warn({ err }, 'systemd notification failed') });

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, 'stopping');
      await sd.stopping();
      await core.stop();
      log.flush();
    })();
    return stopping;
  };

  try {
    await core.start();
  } catch (err) {
    log.fatal({ err }, 'core failed to start');
    console.error(`tillbox: failed to start: ${(err as Error).message}`);
    await core.stop().catch(() => {});
    return isTillboxError(err) ? 2 : 1;
  }

  const rt = core.runtime!;
  const lines = [
    `tillbox core ready in ${Math.round(performance.now() - t0)} ms${config.demo ? ' (demo mode)' : ''}`,
    `  store ${rt.storeId}, device ${rt.deviceId}, state dir ${stateDir}`,
    `  HTTP API   http://${rt.http.host}:${rt.http.port}  (try: curl http://${rt.http.host}:${rt.http.port}/api/v1/catalog)`,
  ];
  if (rt.mqtt.tcp) lines.push(`  MQTT       mqtt://${rt.mqtt.tcp.host}:${rt.mqtt.tcp.port}`);
  if (rt.mqtt.ws) lines.push(`  MQTT/WS    ${rt.mqtt.ws.scheme ?? 'ws'}://${rt.mqtt.ws.host}:${rt.mqtt.ws.port}`);
  if (rt.mqtt.tls) lines.push(`  MQTT/TLS   mqtts://${rt.mqtt.tls.host}:${rt.mqtt.tls.port}`);
  lines.push(`  credentials: tillbox secrets show${config.demo ? ' (loopback needs none in demo mode)' : ''}`);
  console.log(lines.join('\n'));
  await sd.ready(`serving: store ${rt.storeId}, HTTP ${rt.http.port}`);

  await untilSignalThenStop(log, stop);
  return 0;
}
