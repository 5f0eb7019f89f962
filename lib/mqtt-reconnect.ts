import type { MqttClient } from 'mqtt';
import { Backoff, type BackoffOptions } from './backoff.ts';

// mqtt.js reconnects at a fixed `reconnectPeriod`. Clients created with
// `reconnectPeriod: 0` get the one jittered backoff (lib/backoff.ts) instead:
// after every close a reconnect is scheduled, and a successful connect resets
// the attempts. Returns a function that stops it (call before end()).
export function reconnectWithBackoff(client: MqttClient, opts: BackoffOptions = { baseMs: 250, maxMs: 10_000, floorMs: 100 }): () => void {
  const backoff = new Backoff(opts);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const onConnect = (): void => backoff.reset();
  const onClose = (): void => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped && !client.connected && !client.disconnecting) client.reconnect();
    }, backoff.next());
    timer.unref();
  };
  client.on('connect', onConnect);
  client.on('close', onClose);
  return () => {
    stopped = true;
    clearTimeout(timer);
    client.off('connect', onConnect);
    client.off('close', onClose);
  };
}
