import { createRequire } from 'node:module';

// mqtt-packet (the MQTT encoder under aedes and mqtt.js) fills a table of all
// 65,536 two-byte big-endian numbers on its first packet: 65,536 Buffer
// objects, about 7.5 MB of V8 heap in every process that speaks MQTT, which
// is each of core, devices and flows (issue 14: the box on a Raspberry Pi's
// budget). Without it each number written allocates two bytes from Node's
// buffer pool. mqtt.js has the same switch as its `writeCache: false` client
// option; aedes has none, so it is turned off here, once per process, before
// the first packet. The setter lives on the module's own export, which
// appliance/broker/aedes-patches wraps, hence the direct path.
export function dropMqttNumberCache(): void {
  const require = createRequire(import.meta.url);
  const generate = require('mqtt-packet/writeToStream.js') as { cacheNumbers: boolean };
  generate.cacheNumbers = false;
}
