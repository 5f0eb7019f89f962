import { parseTopic } from '../../contract/topics.ts';
import { backoffDelay } from '../../lib/backoff.ts';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.ts';

// MQTT plumbing shared by HQ's ingest workers and its control client:
// protocol detection (MQTT 5 with a 3.1.1 fallback for brokers such as the
// embedded aedes) and a client factory with reconnect jitter.

export type ProtocolVersion = 4 | 5;

/** CONNACK codes meaning "this broker does not speak the protocol version you asked for". */
const UNSUPPORTED_VERSION = new Set([1, 132]);

/**
 * Asks the broker for MQTT 5. Resolves 5 when it accepts, 4 when it refuses
 * the protocol version; retries while the broker is unreachable, up to
 * `timeoutMs` (then assumes 5 and lets the clients keep reconnecting).
 */
export async function detectProtocol(url: string, options: IClientOptions, log: Logger, timeoutMs = 30_000): Promise<ProtocolVersion> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const answer = await new Promise<ProtocolVersion | undefined>((resolve) => {
      const c = mqtt.connect(url, {
        ...options,
        clientId: `hq-probe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
        protocolVersion: 5,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
        clean: true,
      });
      const done = (v: ProtocolVersion | undefined) => {
        c.removeAllListeners();
        c.on('error', () => {});
        c.end(true);
        resolve(v);
      };
      c.once('connect', () => done(5));
      c.once('error', (err) => {
        const code = (err as { code?: number }).code;
        done(typeof code === 'number' && UNSUPPORTED_VERSION.has(code) ? 4 : undefined);
      });
      c.once('close', () => done(undefined));
    });
    if (answer !== undefined) return answer;
    if (Date.now() > deadline) {
      log.warn({ url }, 'cloud broker unreachable while detecting its protocol; assuming MQTT 5');
      return 5;
    }
    await new Promise((r) => setTimeout(r, backoffDelay(attempt, { baseMs: 100, maxMs: 2000 })));
  }
}

export interface ClientSpec {
  url: string;
  clientId: string;
  protocolVersion: ProtocolVersion;
  options?: IClientOptions;
}

/** A long-lived client: reconnects with jittered backoff, clean session (correctness never depends on it). */
export function createClient(spec: ClientSpec): MqttClient {
  const client = mqtt.connect(spec.url, {
    ...spec.options,
    clientId: spec.clientId,
    protocolVersion: spec.protocolVersion,
    clean: true,
    // mqtt.js' own reconnect (it resubscribes the shared subscriptions), at a period drawn once per client so HQ workers do not reconnect in lockstep.
    reconnectPeriod: backoffDelay(0, { baseMs: 1500, maxMs: 1500, floorMs: 500 }),
    connectTimeout: 10_000,
    keepalive: 30,
  });
  // Small QoS 1 packets (PUBACKs of batches, acks) must not wait for Nagle +
  // delayed ACK (~40 ms a round trip on Linux). mqtt.js builds a new socket
  // on every reconnect, so set it again on each connect.
  setNoDelay(client);
  client.on('connect', () => setNoDelay(client));
  return client;
}

/** TCP_NODELAY on the client's socket (TCP or TLS), when it has one. */
export function setNoDelay(client: MqttClient): void {
  const stream = client.stream as unknown as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

/** `tillbox/v1/{deviceId}/...` → deviceId */
export function deviceOfTopic(topic: string): string | undefined {
  return parseTopic('events', topic)?.deviceId;
}
