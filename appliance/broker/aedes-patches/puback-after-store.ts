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
// connections registered here (the broker's own connections; an mqtt.js
// client in the same process is unaffected), and it also coalesces each
// connection's writes per event-loop turn (see write() below). PUBACKs leave in the order the
// PUBLISHes arrived (§4.6), each once ordered-delivery.ts reports its publish
// stored; a publish that fails to store never gets one (aedes closes the
// connection on that error).
import { createRequire } from 'node:module';

type WriteToStream = (packet: { cmd: string; messageId?: number }, stream: object, opts?: unknown) => boolean;

interface Corkable {
  cork(): void;
  uncork(): void;
  destroyed?: boolean;
}

interface Held {
  packet: { cmd: string; messageId?: number };
  opts: unknown;
  state: 'waiting' | 'stored' | 'dropped';
}

interface Conn {
  held: Held[];
  corked: boolean;
}

const conns = new WeakMap<object, Conn>();
let original: WriteToStream | undefined;

function uncorkLater(stream: Corkable, c: Conn): void {
  c.corked = false;
  stream.uncork();
}

// Every packet written to a registered connection in one turn of the event
// loop leaves in one writev: the first write corks the socket and a
// setImmediate uncorks it. mqtt-packet corks per packet too, but uncorks on
// nextTick, which (deliveries run one per setImmediate callback) still makes
// one syscall per packet. Order is the write order; a false return (buffer
// above highWaterMark) still reaches aedes, which waits for 'drain' as usual.
function write(orig: WriteToStream, packet: Held['packet'], stream: object, opts: unknown, c: Conn): boolean {
  if (!c.corked) {
    const s = stream as Corkable;
    if (!s.destroyed) {
      c.corked = true;
      s.cork();
      setImmediate(uncorkLater, s, c);
    }
  }
  return orig(packet, stream, opts);
}

function install(): WriteToStream {
  if (original) return original;
  // The mqtt-packet instance aedes itself imports.
  const req = createRequire(import.meta.resolve('aedes'));
  const mqttPacket = req('mqtt-packet') as { writeToStream: WriteToStream };
  const orig = mqttPacket.writeToStream;
  original = orig;
  mqttPacket.writeToStream = function heldWriteToStream(packet, stream, opts) {
    const c = conns.get(stream);
    if (!c) return orig.call(this, packet, stream, opts);
    if (packet.cmd === 'connack') fixSessionPresent(packet as ConnackLike, stream);
    if (packet.cmd !== 'puback') return write(orig, packet, stream, opts, c);
    c.held.push({ packet, opts, state: 'waiting' });
    return true;
  };
  return orig;
}

interface ConnackLike {
  cmd: string;
  returnCode?: number;
  sessionPresent?: boolean;
}

let sessionStateOf: ((stream: object) => boolean) | undefined;

/**
 * [MQTT-3.2.2-2]: Session Present is 1 whenever the server holds session
 * state for the client id — subscriptions, queued messages, or an inbound
 * QoS 2 message not yet released. aedes 1.2 (lib/handlers/connect.js
 * restoreSubs) looks only at subscriptions; the broker tells us the rest.
 */
export function onConnackSessionState(fn: (stream: object) => boolean): void {
  sessionStateOf = fn;
}

function fixSessionPresent(packet: ConnackLike, stream: object): void {
  if (packet.returnCode === 0 && !packet.sessionPresent && sessionStateOf?.(stream)) packet.sessionPresent = true;
}

/** Starts holding PUBACKs written to this connection (and coalescing its writes). */
export function holdPubacks(stream: object): void {
  install();
  conns.set(stream, { held: [], corked: false });
}

function settle(stream: object, messageId: number, state: 'stored' | 'dropped'): void {
  const c = conns.get(stream);
  if (!c) return;
  const q = c.held;
  const h = q.find((e) => e.state === 'waiting' && e.packet.messageId === messageId);
  if (h) h.state = state;
  let n = 0;
  while (n < q.length && q[n]!.state !== 'waiting') {
    const head = q[n++]!;
    if (head.state === 'stored') write(original!, head.packet, stream, head.opts, c);
  }
  if (n > 0) q.splice(0, n);
}

/** The publish with this packet id is stored: its PUBACK (and any now at the head) may go. */
export function releasePuback(stream: object, messageId: number): void {
  settle(stream, messageId, 'stored');
}

/** The publish failed: never acknowledge it. */
export function dropPuback(stream: object, messageId: number): void {
  settle(stream, messageId, 'dropped');
}
