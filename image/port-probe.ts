// Which forwarded ports of the VM answer (image/boot-test.sh). qemu's user-mode
// network accepts every forwarded connection on the host side at once, so a
// connect alone says nothing: each probe sends a line of garbage and waits.
// A service answers (bytes, or a close once it reads garbage: HTTP 400, a TLS
// alert, an MQTT broker dropping a bad packet, an SSH banner); a port the
// guest's firewall drops stays silent.
//   node image/port-probe.ts HOST_PORT:GUEST_PORT ...   → {"8080":"answers","22":"silent",...}
import { connect } from 'node:net';

const WAIT_MS = 4000;

function probe(port: number): Promise<'answers' | 'silent'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (r: 'answers' | 'silent') => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('silent'), WAIT_MS);
    let connected = false;
    s.on('connect', () => {
      connected = true;
      s.write('GET / HTTP/1.0\r\n\r\n\x10\x00garbage\r\n');
    });
    s.on('data', () => done('answers'));
    s.on('end', () => done('answers'));
    // Refused on the host side: qemu forwards nothing there. A reset after the
    // connect is the guest's service hanging up on the garbage.
    s.on('error', () => done(connected ? 'answers' : 'silent'));
  });
}

const pairs = process.argv.slice(2).map((a) => a.split(':').map(Number) as [number, number]);
const results = await Promise.all(pairs.map(async ([host, guest]) => [String(guest), await probe(host)] as const));
console.log(JSON.stringify(Object.fromEntries(results)));
