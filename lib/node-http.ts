import { createRequire } from 'node:module';
import type * as Http from 'node:http';

// node:http for ES modules, loaded with require(). An ES import of node:http
// builds its namespace by reading every export, and three of them (WebSocket,
// CloseEvent, MessageEvent) are lazy getters that load Node's bundled undici:
// 71 more internal modules, +14 MB RSS and +2.8 MB of heap in a bare Node 24
// (`import 'node:http'` vs `require('node:http')`). require() reads none of
// them, so a process that never calls fetch never loads undici.
const http = createRequire(import.meta.url)('node:http') as typeof Http;

export const createServer: typeof Http.createServer = http.createServer;
