import { reconnectWithBackoff } from '../../lib/mqtt-reconnect.ts';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from '../log.ts';

export interface LocalSubscriberContext {
  /** Resolved at start(): the broker binds its port during core's start. */
  account: () => { url: string; username: string; password: string } | undefined;
  clientId: string;
  filters: string[];
  onMessage: (topic: string, payload: Buffer) => void;
  log: Logger;
}

/**
 * Core listening to its own broker as an ordinary client (core account):
 * unlike aedes' in-process subscribe, this also receives retained messages,
 * e.g. a scale's retained online/offline state after a core restart.
 */
export class LocalSubscriber {
  readonly #ctx: LocalSubscriberContext;
  #client: MqttClient | undefined;
  #stopReconnect: (() => void) | undefined;

  constructor(ctx: LocalSubscriberContext) {
    this.#ctx = ctx;
  }

  start(): void {
    const account = this.#ctx.account();
    if (!account) return;
    const client = connect(account.url, {
      clientId: this.#ctx.clientId,
      username: account.username,
      password: account.password,
      clean: true,
      reconnectPeriod: 0, // jittered backoff instead (lib/mqtt-reconnect.ts)
    });
    this.#stopReconnect = reconnectWithBackoff(client);
    client.on('connect', () => {
      client.subscribe(this.#ctx.filters, { qos: 0 }, (err) => {
        if (err) this.#ctx.log.error({ err }, 'local subscription failed');
      });
    });
    client.on('message', (topic, payload) => {
      try {
        this.#ctx.onMessage(topic, payload);
      } catch (err) {
        this.#ctx.log.error({ err, topic }, 'local message handler failed');
      }
    });
    client.on('error', (err) => this.#ctx.log.warn({ err: err.message }, 'local subscriber connection error'));
    this.#client = client;
  }

  async stop(): Promise<void> {
    this.#stopReconnect?.();
    await this.#client?.endAsync();
    this.#client = undefined;
  }
}
