// Makes aedes hand packets to subscribers in broker-counter order.
//
// aedes stamps every packet with a broker-wide counter when publish() starts,
// then runs storeRetained -> (QoS > 0) enqueueOffline -> mq.emit. Those steps
// are asynchronous, so a later packet (a QoS 0 one, a non-retained one, or one
// whose store call simply finished first) can reach mq.emit before an earlier
// one. Each client keeps the highest counter it has forwarded and drops any
// packet at or below it (lib/client.js `dedupe`, which exists so overlapping
// subscriptions do not deliver one packet twice) — so the earlier packet is
// lost for that online client and only resurfaces from the offline queue after
// a reconnect (moscajs/aedes#994). An ordered persistence alone cannot close
// this: a QoS 0 publish never touches persistence and still overtakes.
//
// The gate registers the counter each broker.publish() is about to assign and
// lets mq.emit through strictly in that order. A publish that ends without an
// emit (an error in storeRetained or enqueueOffline) releases its slot from its
// completion callback, so the gate never waits on a packet that will not come.
// Packets that did not come through broker.publish (another broker's, or
// retained messages aedes replays to one client) are not gated.
//
// The moment a gated packet reaches mq.emit, storeRetained and enqueueOffline
// are done, so it is stored: that is when the publisher's PUBACK is released
// (puback-after-store.ts).
import { dropPuback, releasePuback } from './puback-after-store.ts';

type Done = (err?: Error | null) => void;

export interface GateableBroker {
  id: string;
  counter: number;
  publish(packet: object, client?: unknown, done?: Done): void;
  mq: { emit(packet: object, cb?: Done): void };
}

interface Slot {
  counter: number;
  state: 'waiting' | 'ready' | 'gone';
  packet?: object;
  cb?: Done | undefined;
  /** Publisher connection and packet id whose PUBACK waits for this slot. */
  ackConn?: object;
  ackId?: number;
}

export interface DeliveryGate {
  /** Publishes whose emit is still held back (for tests and health). */
  readonly waiting: number;
}

export function installOrderedDelivery(broker: GateableBroker): DeliveryGate {
  const slots = new Map<number, Slot>();
  const queue: Slot[] = [];
  let head = 0;
  const origPublish = broker.publish;
  const mq = broker.mq;
  const origEmit = mq.emit.bind(mq);

  function drain(): void {
    while (head < queue.length) {
      const s = queue[head]!;
      if (s.state === 'waiting') break;
      head++;
      slots.delete(s.counter);
      if (s.ackConn) {
        if (s.state === 'ready') releasePuback(s.ackConn, s.ackId!);
        else dropPuback(s.ackConn, s.ackId!);
      }
      if (s.state === 'ready') origEmit(s.packet!, s.cb);
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
  }

  function release(counter: number): void {
    const s = slots.get(counter);
    if (s && s.state === 'waiting') {
      s.state = 'gone';
      drain();
    }
  }

  mq.emit = function gatedEmit(packet: object, cb?: Done): void {
    const p = packet as { brokerId?: string; brokerCounter?: number };
    const s = p.brokerId === broker.id && p.brokerCounter !== undefined ? slots.get(p.brokerCounter) : undefined;
    if (s?.state !== 'waiting') {
      origEmit(packet, cb);
      return;
    }
    s.state = 'ready';
    s.packet = packet;
    s.cb = cb;
    drain();
  };

  broker.publish = function gatedPublish(packet: object, client?: unknown, done?: Done): void {
    if (typeof client === 'function') {
      done = client as Done;
      client = null;
    }
    const hasCounter = (packet as { brokerCounter?: number }).brokerCounter;
    // aedes-packet assigns ++broker.counter only when the packet has none.
    const expected = hasCounter ? undefined : broker.counter + 1;
    if (expected !== undefined) {
      const s: Slot = { counter: expected, state: 'waiting' };
      const p = packet as { qos?: number; messageId?: number };
      const conn = (client as { conn?: object } | null | undefined)?.conn;
      if (conn && p.qos === 1 && p.messageId !== undefined) {
        s.ackConn = conn;
        s.ackId = p.messageId;
      }
      slots.set(expected, s);
      queue.push(s);
    }
    origPublish.call(broker, packet, client, (err?: Error | null) => {
      if (expected !== undefined) release(expected);
      done?.(err);
    });
    // Rejected before a packet was built (e.g. too many topic levels).
    if (expected !== undefined && broker.counter < expected) release(expected);
  };

  return {
    get waiting() {
      return queue.length - head;
    },
  };
}
