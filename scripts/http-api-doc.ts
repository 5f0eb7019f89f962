// Regenerates the route table of docs/http-api.md from the routes themselves
// (appliance/http/route-docs.ts): node scripts/http-api-doc.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createHttpApi } from '../appliance/http/app.ts';
import { renderRouteTable, TABLE_END, TABLE_START } from '../appliance/http/route-docs.ts';
import { registerStatusRoute } from '../appliance/core/status-route.ts';
import { registerSyncStatusRoute } from '../appliance/sync/status-route.ts';
import { registerIdentityRoute } from '../appliance/core/identity-route.ts';
import { registerHealthRoutes } from '../appliance/health/routes.ts';
import { registerStatusPage } from '../appliance/health/status-page.ts';
import { silentLogger } from '../appliance/log.ts';

export const DOC_FILE = resolve(import.meta.dirname, '../docs/http-api.md');

/** The route table as the code defines it (the same routes core serves). */
export async function routeTable(): Promise<string> {
  const app = createHttpApi({ pos: {} as never, journal: {} as never, log: silentLogger(), auth: { tokens: [], loopbackOpen: false }, isReady: () => true });
  registerStatusRoute(app, () => ({}) as never);
  registerSyncStatusRoute(app, () => ({}) as never);
  registerIdentityRoute(app, () => ({}) as never);
  registerHealthRoutes(app, () => ({}) as never);
  registerStatusPage(app, () => ({}) as never);
  await app.ready();
  const table = renderRouteTable(app.routeDocs);
  await app.close();
  return table;
}

/** docs/http-api.md with its route table replaced by the generated one. */
export async function renderedDoc(current = readFileSync(DOC_FILE, 'utf8')): Promise<string> {
  const a = current.indexOf(TABLE_START);
  const b = current.indexOf(TABLE_END);
  if (a < 0 || b < 0) throw new Error(`${DOC_FILE} has no generated route table markers`);
  return current.slice(0, a) + (await routeTable()) + current.slice(b + TABLE_END.length);
}

if (import.meta.url === `file://${process.argv[1]}`) writeFileSync(DOC_FILE, await renderedDoc());
