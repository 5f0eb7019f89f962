import type { Db } from './db.ts';

// The HQ ledger schema, one SQL text for PostgreSQL 15 and PGlite.
// Versioned: `hq_schema` records what has been applied; each entry of
// MIGRATIONS runs once, in order, in its own transaction.

export const SCHEMA_V1 = `
CREATE TABLE devices (
  device_id        text PRIMARY KEY,
  store_id         text NOT NULL,
  -- contiguous watermark: every seq 1..last_applied_seq is recorded (events or event_anomalies)
  last_applied_seq bigint NOT NULL DEFAULT 0,
  last_seen_at     timestamptz,
  online           boolean,
  -- catalog version last published to this device (0 = never)
  catalog_version  bigint NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Every event HQ has recorded, once. disposition: applied (projected),
-- held (older than the review threshold, waiting for a human; not projected),
-- rejected (a human refused a held event; never projected).
CREATE TABLE events (
  device_id       text NOT NULL,
  seq             bigint NOT NULL,
  id              text NOT NULL UNIQUE,
  idempotency_key text NOT NULL,
  store_id        text NOT NULL,
  type            text NOT NULL,
  hlc             text NOT NULL,
  payload         jsonb NOT NULL,
  recorded_at     text NOT NULL,
  received_at     timestamptz NOT NULL,
  disposition     text NOT NULL CHECK (disposition IN ('applied', 'held', 'rejected')),
  PRIMARY KEY (device_id, seq),
  UNIQUE (device_id, idempotency_key)
);

-- A seq whose event reuses an id or idempotency key HQ already holds under
-- another seq (a box bug): recorded, never applied, still counted for the
-- watermark so the device is not stuck.
CREATE TABLE event_anomalies (
  device_id   text NOT NULL,
  seq         bigint NOT NULL,
  event_id    text NOT NULL,
  reason      text NOT NULL,
  event       jsonb NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (device_id, seq)
);

-- Sales ledger: one signed row per financial event (sale +, refund -, void -).
CREATE TABLE sales_ledger (
  event_id    text PRIMARY KEY,
  device_id   text NOT NULL,
  store_id    text NOT NULL,
  seq         bigint NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('sale', 'refund', 'void')),
  sale_id     text NOT NULL,
  currency    text NOT NULL,
  amount      bigint NOT NULL,
  tax         bigint NOT NULL,
  hlc         text NOT NULL,
  recorded_at text NOT NULL,
  lines       jsonb NOT NULL
);
CREATE INDEX sales_ledger_store ON sales_ledger (store_id, hlc);

-- Stock movements (deltas) per store and sku, ordered by HLC. shortfall > 0
-- marks a sale line of a tracked item that took stock below zero.
CREATE TABLE stock_moves (
  event_id  text NOT NULL,
  line      integer NOT NULL,
  store_id  text NOT NULL,
  sku       text NOT NULL,
  hlc       text NOT NULL,
  device_id text NOT NULL,
  seq       bigint NOT NULL,
  kind      text NOT NULL,
  delta     bigint NOT NULL,
  shortfall bigint NOT NULL DEFAULT 0,
  -- total order of moves: '<hlc> <event id> <line, 4 digits>', compared bytewise
  ord       text COLLATE "C" NOT NULL,
  PRIMARY KEY (event_id, line)
);
CREATE INDEX stock_moves_order ON stock_moves (store_id, sku, ord);

-- Inventory projection: the sum of the deltas per store and sku, and the
-- highest move order folded in (a move below it arrived out of order).
CREATE TABLE inventory (
  store_id text NOT NULL,
  sku      text NOT NULL,
  delta    bigint NOT NULL DEFAULT 0,
  max_ord  text COLLATE "C" NOT NULL DEFAULT '',
  PRIMARY KEY (store_id, sku)
);

CREATE TABLE conflicts (
  id          text PRIMARY KEY,
  dedupe_key  text NOT NULL UNIQUE,
  device_id   text NOT NULL,
  store_id    text NOT NULL,
  seq         bigint NOT NULL,
  event_id    text NOT NULL,
  kind        text NOT NULL,
  status      text NOT NULL CHECK (status IN ('open', 'held', 'resolved')),
  detail      text NOT NULL,
  sku         text,
  compensation jsonb,
  resolution  jsonb,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX conflicts_status ON conflicts (status, created_at);
CREATE INDEX conflicts_device ON conflicts (device_id, status);

-- Events HQ itself records (compensations such as a backorder for an oversold line).
CREATE TABLE hq_events (
  id          text PRIMARY KEY,
  conflict_id text NOT NULL REFERENCES conflicts (id),
  type        text NOT NULL,
  store_id    text NOT NULL,
  payload     jsonb NOT NULL,
  created_at  timestamptz NOT NULL
);

-- HQ's price authorizations: a branch override of sku in store (or '*') at a
-- price within [min_price, max_price] (NULL = open) is authorized.
CREATE TABLE price_authorizations (
  id         text PRIMARY KEY,
  store_id   text NOT NULL,
  sku        text NOT NULL,
  min_price  bigint,
  max_price  bigint,
  note       text,
  created_at timestamptz NOT NULL
);
CREATE INDEX price_authorizations_sku ON price_authorizations (sku, store_id);

-- HQ's catalog: one row of metadata, items by sku, and the change log.
CREATE TABLE catalog_meta (
  id          integer PRIMARY KEY CHECK (id = 1),
  currency    text NOT NULL,
  tax_classes jsonb NOT NULL,
  change_no   bigint NOT NULL DEFAULT 0
);
CREATE TABLE catalog_items (
  sku         text PRIMARY KEY,
  item        jsonb NOT NULL,
  track_stock boolean NOT NULL,
  stock       bigint,
  updated_at  timestamptz NOT NULL
);

-- What a bounded lane on a box dropped (LossReport), never silent.
CREATE TABLE loss_reports (
  device_id   text NOT NULL,
  received_at timestamptz NOT NULL,
  report      jsonb NOT NULL
);
`;

// v2: refunds and voids found by their sale (restock of a refund that arrived before its sale).
export const SCHEMA_V2 = `
CREATE INDEX sales_ledger_sale ON sales_ledger (sale_id);
`;

// v3: the refunds and voids of a batch's sales through a small partial index.
// sales_ledger_sale covers every sale row too, and on a table never ANALYZEd
// (PGlite has no autovacuum) the planner scanned the whole ledger once per
// batch: drain time grew with the square of the backlog.
export const SCHEMA_V3 = `
CREATE INDEX sales_ledger_returns ON sales_ledger (sale_id) WHERE kind IN ('refund', 'void');
`;

// v4: the birth/death sequence of a box's cloud sessions (Sparkplug's bdSeq idea):
// a late death of an older session must not mark a newer session offline.
export const SCHEMA_V4 = `
ALTER TABLE devices ADD COLUMN bd_seq bigint;
-- The last health document of each box (contract/health.ts), for the fleet view.
CREATE TABLE device_health (
  device_id   text PRIMARY KEY,
  received_at timestamptz NOT NULL,
  doc         jsonb NOT NULL
);
`;

// v5: sales_ledger_sale (v2) is no longer read: the refunds and voids of a batch's
// sales come from sales_ledger_returns (v3), a sale by its event id from the primary
// key. Every sale, refund and void paid for its upkeep on insert.
export const SCHEMA_V5 = `
DROP INDEX IF EXISTS sales_ledger_sale;
`;

const MIGRATIONS: string[] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5];

/** Brings the schema up to date; safe to call on every start, concurrently from several HQ processes. */
export async function migrate(db: Db): Promise<void> {
  await db.exec('CREATE TABLE IF NOT EXISTS hq_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (let i = 0; i < MIGRATIONS.length; i++) {
    const version = i + 1;
    await db.transaction(async (tx) => {
      // Serializes concurrent migrators (several HQ processes on one database).
      await tx.query('LOCK TABLE hq_schema IN EXCLUSIVE MODE');
      const done = await tx.query('SELECT 1 FROM hq_schema WHERE version = $1', [version]);
      if (done.rows.length > 0) return;
      for (const stmt of splitStatements(MIGRATIONS[i]!)) await tx.query(stmt);
      await tx.query('INSERT INTO hq_schema (version) VALUES ($1)', [version]);
    });
  }
}

/** Splits a schema text on `;` at line ends (the schema has no `;` inside strings). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
