// Sends a QoS 1 PUBACK only after the message is stored.
//
// aedes 1.2.0 (lib/handlers/publish.js, case 1) writes the PUBACK first and
// only then calls broker.publish(), which persists the message for offline
// and persistent subscribers. A broker killed in between has acknowledged a
// message it never stored: measured here, 1,536 PUBACKed messages and not one
// of them on disk after SIGKILL. MQTT 3.1.1 §4.3.2 has the receiver answer
// PUBACK "having accepted ownership", so tillbox holds the PUBACK back.
//
// The hold sits where aedes writes packets: mqtt-packet's writeToStream, which
// aedes looks up on the module object at every call. The patch only touches
// connections registered here (the broker's own guarded streams; an mqtt.js
// client in the same process is unaffected). PUBACKs leave in the order the
// PUBLISHes arrived (§4.6), each once ordered-delivery.ts reports its publish
// stored; a publish that fails to store never gets one (aedes closes the
// connection on that error).
import { createRequire } from 'node:module';

type WriteToStream = (packet: { cmd: string; messageId?: number }, stream: object, opts?: unknown) => boolean;

interface Held {
  packet: { cmd: string; messageId?: number };
  opts: unknown;
  state: 'waiting' | 'stored' | 'dropped';
}

const queues = new WeakMap<object, Held[]>();
let original: WriteToStream | undefined;

function install(): WriteToStream {
  if (original) return original;
  // The mqtt-packet instance aedes itself imports.
  const req = createRequire(import.meta.resolve('aedes'));
  const mqttPacket = req('mqtt-packet') as { writeToStream: WriteToStream };
  const orig = mqttPacket.writeToStream;
  original = orig;
  mqttPacket.writeToStream = function heldWriteToStream(packet, stream, opts) {
    const q = queues.get(stream);
    if (!q || packet.cmd !== 'puback') return orig.call(this, packet, stream, opts);
    q.push({ packet, opts, state: 'waiting' });
    return true;
  };
  return orig;
}

/** Starts holding PUBACKs written to this connection. */
export function holdPubacks(stream: object): void {
  install();
  queues.set(stream, []);
}

function settle(stream: object, messageId: number, state: 'stored' | 'dropped'): void {
  const q = queues.get(stream);
  if (!q) return;
  const h = q.find((e) => e.state === 'waiting' && e.packet.messageId === messageId);
  if (h) h.state = state;
  while (q.length > 0 && q[0]!.state !== 'waiting') {
    const head = q.shift()!;
    if (head.state === 'stored') original!(head.packet, stream, head.opts);
  }
}

/** The publish with this packet id is stored: its PUBACK (and any now at the head) may go. */
export function releasePuback(stream: object, messageId: number): void {
  settle(stream, messageId, 'stored');
}

/** The publish failed: never acknowledge it. */
export function dropPuback(stream: object, messageId: number): void {
  settle(stream, messageId, 'dropped');
}
