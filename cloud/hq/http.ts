import { timingSafeEqual } from 'node:crypto';
import { Type, type TSchema } from '@sinclair/typebox';
import { compileSchema, describeErrors } from '../../lib/validate.ts';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { CatalogItem, MinorUnits, Sku } from '../../contract/pos.ts';
import { PROBLEM_CONTENT_TYPE, problem, statusOf, type Problem } from '../../contract/problem.ts';
import { CatalogChange, ConflictResolution, ConflictStatus } from '../../contract/sync.ts';
import type { AddressedUpdate, CatalogStore } from '../catalog/store.ts';
import { LedgerError, type Ledger } from '../ledger/ledger.ts';
import { isTillboxError } from '../../contract/errors.ts';
import { registerEnrolmentRoutes } from '../est/routes.ts';
import { FLEET_DEFAULTS, registerFleetRoutes, type FleetOptions } from './fleet.ts';
import type { EnrolmentService } from '../est/service.ts';
import type { Logger } from '../log.ts';
import type { HqControl } from './control.ts';

// HQ's HTTP API (JSON; every error application/problem+json, RFC 9457):
//
//   GET    /healthz                                     200 {status:'ok'}               (no auth)
//   GET    /api/v1/devices                              200 [{deviceId, storeId, lastAppliedSeq, lastSeenAt, online, openConflicts, catalogVersion}]
//   GET    /api/v1/devices/{deviceId}/events?after=&limit=   200 {events:[{id, seq, type, hlc, payload, ..., disposition}]} (limit 1..1000, default 100)
//   GET    /api/v1/conflicts?status=&deviceId=          200 {conflicts:[ConflictNotice]}
//   GET    /api/v1/conflicts/{id}                       200 ConflictNotice | 404
//   POST   /api/v1/conflicts/{id}/resolve               200 {conflict, changed}  body {decision, by, note?, substituteSku?, at?}; sends a ConflictUpdate down
//   GET    /api/v1/inventory?storeId=                   200 {inventory:[{storeId, sku, delta, tracked, initial, onHand}]}
//   GET    /api/v1/sales?storeId=                       200 {summary:[{storeId, currency, sales, refunds, voids, net, tax}]}
//   GET    /api/v1/catalog                              200 CatalogData
//   PUT    /api/v1/catalog/items/{sku}                  200 {item, published}     upsert, published as a versioned update
//   DELETE /api/v1/catalog/items/{sku}                  200 {sku, published}
//   PUT    /api/v1/catalog/items/{sku}/price            200 {sku, price, published}  body {price}
//   POST   /api/v1/catalog/changes                      200 {published}           body {changes:[CatalogChange]}
//   GET    /api/v1/price-authorizations                 200 {authorizations}
//   POST   /api/v1/price-authorizations                 201 authorization         body {storeId ('*' = all), sku, minPrice?, maxPrice?, note?}
//   GET    /api/v1/loss?deviceId=                       200 {reports}
//   POST   /api/v1/devices/{deviceId}/commands/{command}   200 {status, data?, error?, correlation}  body {args?, timeoutMs?}; 504 without a reply
//
//   GET    /api/v1/fleet?storeId=                       200 [{deviceId, storeId, online, lastSeenAt, health, alerts:[{kind, since, detail}]}]  alerts first
//   GET    /fleet?storeId=                              200 the fleet page (HTML)
//   GET    /metrics                                     200 Prometheus text, per-device gauges
// With HQ_EST_PORT set, the enrolment routes of cloud/est/routes.ts as well.
// `published` lists [{deviceId, version, kind}] sent to the devices. When
// HQ_API_TOKEN is set, /api/ routes need `Authorization: Bearer <token>`.

export interface HqHttpContext {
  ledger: Ledger;
  catalog: CatalogStore;
  control: HqControl;
  log: Logger;
  /** Bearer token for /api/ (absent: open, for the demo on loopback). */
  apiToken?: string | undefined;
  /** Certificate provisioning (HQ_EST_PORT set): adds the enrolment routes (cloud/est/routes.ts). */
  enrolment?: EnrolmentService | undefined;
  /** Fleet alert thresholds (HQ_ALERT_OFFLINE_S, HQ_ALERT_BACKLOG_S). */
  fleet?: FleetOptions | undefined;
  now?: () => number;
}

function validator<T>(schema: TSchema): (value: unknown) => T {
  const check = compileSchema(schema);
  return (value) => {
    if (check(value)) return value as T;
    throw new LedgerError('TB_VALIDATION', `body: ${describeErrors(check.errors)}`);
  };
}

const ResolveBody = Type.Object(
  {
    decision: ConflictResolution.properties.decision,
    by: ConflictResolution.properties.by,
    note: Type.Optional(Type.String({ maxLength: 1000 })),
    substituteSku: Type.Optional(Sku),
    at: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const checkResolve = validator<{ decision: ConflictResolution['decision']; by: string; note?: string; substituteSku?: string; at?: string }>(ResolveBody);
const checkItem = validator<CatalogItem>(CatalogItem);
const checkPrice = validator<{ price: number }>(Type.Object({ price: MinorUnits }, { additionalProperties: false }));
const checkChanges = validator<{ changes: CatalogChange[] }>(Type.Object({ changes: Type.Array(CatalogChange, { minItems: 1, maxItems: 10000 }) }, { additionalProperties: false }));
const checkAuthorization = validator<{ storeId: string; sku: string; minPrice?: number | null; maxPrice?: number | null; note?: string }>(
  Type.Object(
    {
      storeId: Type.String({ pattern: '^(\\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$' }),
      sku: Sku,
      minPrice: Type.Optional(Type.Union([MinorUnits, Type.Null()])),
      maxPrice: Type.Optional(Type.Union([MinorUnits, Type.Null()])),
      note: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  ),
);
const statusCheck = compileSchema(ConflictStatus);

function toProblem(err: unknown): Problem {
  if (isTillboxError(err)) {
    const status = statusOf(err.code);
    return problem(status, err.code, status === 500 ? 'internal error' : err.message);
  }
  const e = err as { statusCode?: number; code?: string; message?: string } | null;
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem(413, 'TB_HTTP_BODY_TOO_LARGE', 'request body too large');
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return problem(415, 'TB_HTTP_UNSUPPORTED_MEDIA_TYPE', 'use application/json');
  if (err instanceof SyntaxError || e?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return problem(400, 'TB_HTTP_MALFORMED_JSON', 'request body is not valid JSON');
  }
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500) return problem(e.statusCode, 'TB_HTTP_BAD_REQUEST', e.message ?? 'bad request');
  return problem(500, 'TB_INTERNAL', 'internal error');
}

function intQuery(value: unknown, name: string, dflt: number, min: number, max: number): number {
  if (value === undefined || value === '') return dflt;
  const s = String(value);
  if (!/^-?[0-9]{1,16}$/.test(s)) throw new LedgerError('TB_VALIDATION', `${name} must be an integer`);
  const n = Number(s);
  if (n < min) throw new LedgerError('TB_VALIDATION', `${name} must be >= ${min}`);
  return Math.min(n, max);
}

function published(updates: AddressedUpdate[]) {
  return updates.map((u) => ({ deviceId: u.deviceId, version: u.update.version, kind: u.update.kind }));
}

export function createHqHttp(ctx: HqHttpContext): FastifyInstance {
  const { ledger, catalog, control, log } = ctx;
  const now = ctx.now ?? Date.now;
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  const token = ctx.apiToken ? Buffer.from(ctx.apiToken) : undefined;

  app.setErrorHandler((err, req, reply: FastifyReply) => {
    const p = toProblem(err);
    if (p.status >= 500) log.error({ err, url: req.url }, 'request failed');
    reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problem(404, 'TB_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
  app.addHook('onRequest', async (req) => {
    // /crl and /healthz are public; the fleet page and metrics name every box, so they go with the API.
    // By the matched route, not the raw URL (the router decodes percent-escapes: /%61pi/ is /api/).
    const route = req.routeOptions.url;
    if (!token || route === undefined || !(route.startsWith('/api/') || route === '/fleet' || route === '/metrics')) return;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const given = m ? Buffer.from(m[1]!) : Buffer.alloc(0);
    if (given.length !== token.length || !timingSafeEqual(given, token)) throw new LedgerError('TB_UNAUTHORIZED', 'a valid bearer token is required');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/api/v1/devices', async () => ledger.devices());

  app.get<{ Params: { deviceId: string }; Querystring: Record<string, string> }>('/api/v1/devices/:deviceId/events', async (req) => {
    const after = intQuery(req.query.after, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intQuery(req.query.limit, 'limit', 100, 1, 1000);
    return { events: await ledger.events(req.params.deviceId, after, limit) };
  });

  app.get<{ Querystring: Record<string, string> }>('/api/v1/conflicts', async (req) => {
    const status = req.query.status;
    if (status !== undefined && !statusCheck(status)) throw new LedgerError('TB_VALIDATION', 'status must be open, held or resolved');
    const filter: { status?: string; deviceId?: string; limit: number } = { limit: intQuery(req.query.limit, 'limit', 1000, 1, 10000) };
    if (status) filter.status = status;
    if (req.query.deviceId) filter.deviceId = req.query.deviceId;
    return { conflicts: await ledger.conflicts(filter) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/conflicts/:id', async (req) => {
    const c = await ledger.conflict(req.params.id);
    if (!c) throw new LedgerError('TB_NOT_FOUND', `no conflict ${req.params.id}`);
    return c;
  });

  app.post<{ Params: { id: string } }>('/api/v1/conflicts/:id/resolve', async (req) => {
    const body = checkResolve(req.body);
    const resolution: ConflictResolution = { decision: body.decision, by: body.by, at: body.at ?? new Date(now()).toISOString() };
    if (body.note !== undefined) resolution.note = body.note;
    if (body.substituteSku !== undefined) resolution.substituteSku = body.substituteSku;
    const changed = await ledger.resolveConflict(req.params.id, resolution);
    control.publishConflicts(changed);
    return { conflict: changed.find((c) => c.id === req.params.id), changed };
  });

  app.get<{ Querystring: Record<string, string> }>('/api/v1/inventory', async (req) => ({ inventory: await ledger.inventory(req.query.storeId || undefined) }));
  app.get<{ Querystring: Record<string, string> }>('/api/v1/sales', async (req) => ({ summary: await ledger.salesSummary(req.query.storeId || undefined) }));

  app.get('/api/v1/catalog', async () => catalog.catalog());

  app.put<{ Params: { sku: string } }>('/api/v1/catalog/items/:sku', async (req) => {
    const item = checkItem(req.body);
    if (item.sku !== req.params.sku) throw new LedgerError('TB_VALIDATION', 'body sku does not match the path');
    return { item, published: published(await control.changeCatalog([{ op: 'upsert', item }])) };
  });
  app.delete<{ Params: { sku: string } }>('/api/v1/catalog/items/:sku', async (req) => {
    return { sku: req.params.sku, published: published(await control.changeCatalog([{ op: 'delete', sku: req.params.sku }])) };
  });
  app.put<{ Params: { sku: string } }>('/api/v1/catalog/items/:sku/price', async (req) => {
    const { price } = checkPrice(req.body);
    return { sku: req.params.sku, price, published: published(await control.changeCatalog([{ op: 'price', sku: req.params.sku, price }])) };
  });
  app.post('/api/v1/catalog/changes', async (req) => {
    const { changes } = checkChanges(req.body);
    return { published: published(await control.changeCatalog(changes)) };
  });

  app.get('/api/v1/price-authorizations', async () => ({ authorizations: await ledger.priceAuthorizations() }));
  app.post('/api/v1/price-authorizations', async (req, reply) => {
    const a = checkAuthorization(req.body);
    reply.code(201);
    return ledger.addPriceAuthorization(a);
  });

  const checkCommand = validator<{ args?: Record<string, unknown>; timeoutMs?: number }>(
    Type.Object({ args: Type.Optional(Type.Record(Type.String(), Type.Unknown())), timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 120_000 })) }, { additionalProperties: false }),
  );
  app.post<{ Params: { deviceId: string; command: string } }>('/api/v1/devices/:deviceId/commands/:command', async (req) => {
    const body = checkCommand(req.body ?? {});
    return control.command(req.params.deviceId, req.params.command, body.args, body.timeoutMs ?? 10_000);
  });

  app.get<{ Querystring: Record<string, string> }>('/api/v1/loss', async (req) => ({ reports: await ledger.lossReports(req.query.deviceId || undefined) }));

  if (ctx.enrolment) registerEnrolmentRoutes(app, ctx.enrolment);
  registerFleetRoutes(app, ledger, ctx.fleet ?? FLEET_DEFAULTS, now);
  return app;
}
