// MQTT 3.1.1 statements aedes 1.2 misses and Mosquitto meets, fixed through
// aedes' own hooks (authorizeForward, authenticate) so no aedes file is edited.
// Each is tested in appliance/broker/conformance.test.ts citing its statement.
import { randomUUID } from 'node:crypto';
import { topicMatches } from '../../../contract/topics.ts';

interface ClientLike {
  id: string;
  clean?: boolean;
  subscriptions?: Record<string, { qos?: number }>;
}

interface PacketLike {
  topic: string;
  qos?: number;
  retain?: boolean;
  brokerId?: string | null;
  [k: string]: unknown;
}

/** How long after a SUBSCRIBE live messages are remembered, to spot a stale retained replay. */
const REPLAY_WINDOW_MS = 10_000;

export class ConformanceHooks {
  readonly #windows = new WeakMap<object, { subscribedAt: number; until: number; live: Map<string, number> }>();
  #tick = 0;

  /**
   * [MQTT-3.8.4-6] / [MQTT-3.3.5-1]: a message goes out at the lower of its
   * own QoS and the maximum QoS granted to the client's subscriptions that
   * match its topic. aedes downgrades by looking the subscription up under the
   * message's *topic* (lib/client.js deliverQoS), which finds nothing for a
   * wildcard filter, so `q/+` granted 1 received QoS 2; its retained replay at
   * subscribe time had no downgrade at all.
   *
   * Retained replays: aedes reads the retained store when the SUBSCRIBE
   * completes and sends what it read outside the delivery order, so a live
   * message on the topic can reach the client first and the stale retained
   * one after it (a kiosk would then believe the older device state). A
   * replay is dropped when a newer live message on its topic was already
   * forwarded to this client after the subscription.
   *
   * Returns the packet to forward (a copy when changed), or null to drop it.
   */
  forward(client: ClientLike, packet: PacketLike): PacketLike | null {
    const replay = packet.retain === true && packet.brokerId == null;
    const w = this.#windows.get(client);
    if (w) {
      if (replay) {
        if ((w.live.get(packet.topic) ?? 0) > w.subscribedAt) return null;
      } else if (Date.now() > w.until) {
        this.#windows.delete(client);
      } else {
        w.live.set(packet.topic, ++this.#tick);
      }
    }
    const qos = packet.qos ?? 0;
    if (qos === 0) return packet;
    const granted = grantedFor(client, packet.topic);
    if (granted === undefined || granted >= qos) return packet;
    return { ...packet, qos: granted };
  }

  /** A SUBSCRIBE was granted: for a while, live messages are noted so a stale retained replay can be told. */
  subscribed(client: object): void {
    const w = this.#windows.get(client) ?? { subscribedAt: 0, until: 0, live: new Map<string, number>() };
    w.subscribedAt = ++this.#tick;
    w.until = Date.now() + REPLAY_WINDOW_MS;
    this.#windows.set(client, w);
  }

  /**
   * [MQTT-3.1.3-6]: a zero-byte client id with CleanSession 1 is accepted and
   * the server assigns a unique one. aedes assigns `aedes_<uuid>` before
   * authentication, which the client-id binding (the id must name its user)
   * refused with rc 2; the assigned id is now `<user>-<uuid>`. With
   * CleanSession 0 it stays refused, rc 2 [MQTT-3.1.3-8].
   * Returns false when the CONNECT must be refused.
   */
  assignClientId(client: ClientLike, suppliedId: string | undefined, owner: string): boolean {
    if (suppliedId !== '') return true;
    if (!client.clean) return false;
    client.id = `${owner}-${randomUUID()}`;
    return true;
  }
}

function grantedFor(client: ClientLike, topic: string): number | undefined {
  const subs = client.subscriptions;
  if (!subs) return undefined;
  let best: number | undefined;
  for (const filter in subs) {
    if (!topicMatches(filter, topic)) continue;
    const q = subs[filter]!.qos ?? 0;
    if (best === undefined || q > best) best = q;
    if (best === 2) break;
  }
  return best;
}
