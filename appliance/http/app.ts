import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import type { Actor } from '../../contract/pos.ts';
import { PROBLEM_CONTENT_TYPE, type FieldError } from '../../contract/problem.ts';
import type { HealthReason } from '../../contract/box-status.ts';
import type { Journal } from '../journal/types.ts';
import type { Logger } from '../log.ts';
import type { PosService } from '../pos/pos-service.ts';
import { validationError } from '../pos/validate.ts';
import { Authenticator, type AuthOptions } from './auth.ts';
import { problem, toProblem } from './problem.ts';
import type { RouteEntry } from './route-docs.ts';

// The HTTP API (JSON; every error application/problem+json). Each route
// documents itself (`config.doc`); docs/http-api.md's route table is
// generated from them (route-docs.ts).
//
// Idempotent writes: a retry with the same key and body answers the original
// event with the SAME status (201) plus `Idempotent-Replayed: true`, so a
// client that lost the first answer handles the retry identically; the same
// key with another body is 422 TB_IDEMPOTENCY_CONFLICT.
//
// Every route under /api/ is authenticated (auth.ts), including routes core
// registers later on the returned instance; `request.actor` is set for them.
// Use `requireManager` as a preHandler for manager-only routes.

declare module 'fastify' {
  interface FastifyInstance {
    routeDocs: RouteEntry[];
  }
  interface FastifyRequest {
    actor: Actor;
  }
}

export interface HttpApiContext {
  pos: PosService;
  journal: Journal;
  log: Logger;
  auth: AuthOptions;
  /** True once broker and journal are ready (drives /healthz). */
  isReady: () => boolean;
  /** Once ready: whether the box takes sales, and why not (disk full, journal reopening). */
  health?: () => { selling: boolean; reasons: HealthReason[] };
  /** Maximum request body in bytes (default 64 KiB). */
  bodyLimit?: number | undefined;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;
/** Retry-After on a 503 (seconds): long enough not to hammer a box that is full, short enough to resume quickly. */
export const RETRY_AFTER_S = 2;
export const JOURNAL_PAGE_MAX = 1000;

/** preHandler for manager-only routes. */
/** Routes behind the API's authentication: /api/..., /metrics and the status page (with its event stream). */
export function needsAuth(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && (routeUrl.startsWith('/api/') || routeUrl === '/metrics' || routeUrl === '/status' || routeUrl.startsWith('/status/'));
}

export async function requireManager(request: FastifyRequest): Promise<void> {
  if (request.actor.role !== 'manager') throw new TillboxError(ErrorCode.Forbidden, 'this action needs a manager token');
}

function idempotencyKey(request: FastifyRequest): string {
  const raw = request.headers['idempotency-key'];
  if (typeof raw !== 'string' || raw.length === 0) {
    throw validationError('the Idempotency-Key header is required', [{ path: 'headers.idempotency-key', message: 'is required' }]);
  }
  return raw;
}

function created(reply: FastifyReply, result: { value: unknown; replayed: boolean }, location?: string): unknown {
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  if (location) reply.header('location', location);
  reply.code(201);
  return result.value;
}

/** Non-negative integer from a query string value, or a Validation error naming the parameter. */
function queryInt(value: unknown, name: string, fallback: number, min: number, errors: FieldError[]): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value) || Number(value) < min) {
    errors.push({ path: `query.${name}`, message: `must be an integer >= ${min}` });
    return fallback;
  }
  return Number(value);
}

export function createHttpApi(ctx: HttpApiContext): FastifyInstance {
  const auth = new Authenticator(ctx.auth);
  const app = Fastify({
    loggerInstance: ctx.log,
    bodyLimit: ctx.bodyLimit ?? DEFAULT_BODY_LIMIT,
    trustProxy: false,
    return503OnClosing: true,
    // One debug line per request (below) instead of fastify's two info lines:
    // a till sells all day and journald on an SD card is not free.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;

  // Method, url, status and time only; headers, and so tokens, are never logged.
  app.addHook('onResponse', async (request, reply) => {
    if (ctx.log.isLevelEnabled('debug')) {
      request.log.debug({ method: request.method, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
    }
  });

  // JSON only: text/plain (fastify's other default) would reach handlers as a string.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('actor', null as unknown as Actor);

  app.setErrorHandler((err, request, reply) => {
    const p = toProblem(err);
    if (p.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: p.code, status: p.status }, 'request refused');
    if (p.status === 401) reply.header('www-authenticate', 'Bearer');
    // Every 503 is temporary (starting, disk full, a store reopening): say when to try again.
    if (p.status === 503) reply.header('retry-after', String(RETRY_AFTER_S));
    reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problem(404, ErrorCode.NotFound, `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  // Decided by the matched route, never by the raw URL: the router decodes percent-escapes
  // (/%61pi/... reaches /api/...) and ignores the query string; a prefix check on request.url did not.
  app.addHook('onRequest', async (request) => {
    if (!needsAuth(request.routeOptions.url)) return;
    request.actor = auth.authenticate(request.headers.authorization, request.socket.remoteAddress);
  });

  // Every documented route (also those core adds later), for the generated reference.
  const routeDocs: RouteEntry[] = [];
  app.decorate('routeDocs', routeDocs);
  app.addHook('onRoute', (r) => {
    const doc = r.config?.doc;
    if (!doc) return;
    for (const method of [r.method].flat()) if (method !== 'HEAD') routeDocs.push({ method, url: r.url, doc });
  });

  app.get(
    '/healthz',
    { config: { doc: { success: '200 `{status:"ok"}` while selling', notes: 'no auth; 503 problem+json with `reasons` while starting, the disk is full or the journal is reopening' } } },
    async (_request, reply) => {
      if (!ctx.isReady()) {
        reply.code(503).type(PROBLEM_CONTENT_TYPE).header('retry-after', '1');
        return problem(503, ErrorCode.NotReady, 'starting: broker or journal not ready yet');
      }
      const health = ctx.health?.();
      if (health && !health.selling) {
        reply.code(503).type(PROBLEM_CONTENT_TYPE).header('retry-after', String(RETRY_AFTER_S));
        const first = health.reasons[0];
        const p = problem(503, first?.code ?? ErrorCode.NotReady, health.reasons.map((r) => r.message).join('; ') || 'not selling');
        p.reasons = health.reasons;
        return p;
      }
      return { status: 'ok' };
    },
  );

  const { pos } = ctx;

  app.get(
    '/api/v1/catalog',
    { config: { doc: { success: '200 `{ currency, items: [ { sku, name, price, barcodes, taxClass, trackStock, soldByWeight, unit, stock, ... } ] }`', notes: '' } } },
    async () => ({ currency: pos.currency, items: pos.catalog() }),
  );
  app.get<{ Params: { code: string } }>('/api/v1/catalog/:code', { config: { doc: { success: '200 item', notes: 'by sku or barcode; 404 unknown' } } }, async (request) => {
    const item = pos.catalogItem(request.params.code);
    if (!item) throw new TillboxError(ErrorCode.NotFound, `no item with sku or barcode ${request.params.code}`);
    return item;
  });

  app.post(
    '/api/v1/sales',
    {
      config: {
        doc: {
          success: '201 `{ id, seq, total, tax, lines, taxes, tenders, change, ... }` + `Location`',
          notes: 'Idempotency-Key; body `{ lines: [ { sku, qty } \\| { sku, weightGrams } ], tenders: [ { type: "cash", amount } \\| { type: "card", amount, approvalRef } ] }`',
        },
      },
    },
    async (request, reply) => {
      const result = await pos.sell(request.body, idempotencyKey(request), request.actor);
      return created(reply, result, `/api/v1/sales/${result.value.id}`);
    },
  );
  app.get<{ Params: { id: string } }>('/api/v1/sales/:id', { config: { doc: { success: '200 sale with refunds/void state', notes: '404 unknown' } } }, async (request) => {
    const sale = await pos.getSale(request.params.id);
    if (!sale) throw new TillboxError(ErrorCode.NotFound, `no sale ${request.params.id}`);
    return sale;
  });
  app.post(
    '/api/v1/refunds',
    { config: { doc: { success: '201', notes: 'Idempotency-Key; `{ saleId, lines: [ { line, qty, restock } ], tenders, reason }`; never more than sold − refunded (409)' } } },
    async (request, reply) => created(reply, await pos.refund(request.body, idempotencyKey(request), request.actor)),
  );
  app.post('/api/v1/voids', { config: { doc: { success: '201', notes: 'Idempotency-Key; whole sale, once, only without refunds (409 otherwise)' } } }, async (request, reply) =>
    created(reply, await pos.void(request.body, idempotencyKey(request), request.actor)),
  );
  app.post('/api/v1/inventory/adjustments', { config: { doc: { success: '201', notes: 'Idempotency-Key; `{ sku, delta, reason, note? }`' } } }, async (request, reply) =>
    created(reply, await pos.adjustInventory(request.body, idempotencyKey(request), request.actor)),
  );
  app.post('/api/v1/price-overrides', { config: { doc: { success: '201', notes: 'Idempotency-Key; manager token only (403 for a till)' } }, preHandler: requireManager }, async (request, reply) =>
    created(reply, await pos.overridePrice(request.body, idempotencyKey(request), request.actor)),
  );
  app.post('/api/v1/drawer/open', { config: { doc: { success: '201', notes: 'Idempotency-Key; records a `drawer.opened` event' } } }, async (request, reply) =>
    created(reply, await pos.openDrawer(request.body ?? {}, idempotencyKey(request), request.actor)),
  );

  app.post('/api/v1/carts', { config: { doc: { success: '201 cart + `Location`', notes: 'carts live in memory; only checkout writes the journal' } } }, async (_request, reply) => {
    const cart = pos.createCart();
    reply.code(201).header('location', `/api/v1/carts/${cart.id}`);
    return cart;
  });
  app.get<{ Params: { id: string } }>('/api/v1/carts/:id', { config: { doc: { success: '200 cart', notes: '404 unknown' } } }, async (request) => pos.getCart(request.params.id));
  app.post<{ Params: { id: string } }>(
    '/api/v1/carts/:id/lines',
    {
      config: {
        doc: {
          success: '200 cart',
          notes: '`{ sku, qty }` \\| `{ sku, weightGrams }` \\| `{ sku, scale }`: the latest _stable_ weight core heard from that scale (409 while in motion, overloaded, under zero or offline)',
        },
      },
    },
    async (request) => pos.addCartLine(request.params.id, request.body),
  );
  // A scanned or typed code → a catalog line (variable-measure price/weight, GS1 net weight); no journal write until checkout.
  app.post<{ Params: { id: string } }>(
    '/api/v1/carts/:id/scan',
    { config: { doc: { success: '200 cart', notes: '`{ code }`: a barcode (EAN/UPC, GS1 element string, price- or weight-embedded EAN-13) becomes a line; 422 unknown code, 400 bad check digit' } } },
    async (request) => pos.scanIntoCart(request.params.id, request.body),
  );
  app.delete<{ Params: { id: string; index: string } }>('/api/v1/carts/:id/lines/:index', { config: { doc: { success: '200 cart', notes: '' } } }, async (request) => {
    const index = /^[0-9]{1,4}$/.test(request.params.index) ? Number(request.params.index) : -1;
    return pos.removeCartLine(request.params.id, index);
  });
  app.delete<{ Params: { id: string } }>('/api/v1/carts/:id', { config: { doc: { success: '204', notes: '' } } }, async (request, reply) => {
    pos.deleteCart(request.params.id);
    reply.code(204);
  });
  app.post<{ Params: { id: string } }>(
    '/api/v1/carts/:id/checkout',
    { config: { doc: { success: '201 sale', notes: "Idempotency-Key; the cart's lines with the given tenders" } } },
    async (request, reply) => {
      const result = await pos.checkout(request.params.id, request.body, idempotencyKey(request), request.actor);
      return created(reply, result, `/api/v1/sales/${result.value.id}`);
    },
  );

  app.get<{ Querystring: Record<string, unknown> }>(
    '/api/v1/journal',
    {
      config: {
        doc: {
          success: '200 `{ events: [ { id, seq, type, idempotencyKey, hlc, payload, ... } ], lastSeq }`',
          notes: '`?after={seq}&limit={n}`: limit default 100, capped at 1000; `idempotencyKey` is `{till}/{key}`',
        },
      },
    },
    async (request) => {
      const errors: FieldError[] = [];
      const after = queryInt(request.query.after, 'after', 0, 0, errors);
      const limit = Math.min(queryInt(request.query.limit, 'limit', 100, 1, errors), JOURNAL_PAGE_MAX);
      if (errors.length > 0) throw validationError('invalid journal query', errors);
      const events = await ctx.journal.read({ after, limit });
      return { events, lastSeq: ctx.journal.lastSeq };
    },
  );

  return app;
}
