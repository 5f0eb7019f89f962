import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from './schema.ts';
import { ConfigError, setPath, type ConfigIssue } from './errors.ts';

// Every leaf of the schema can be overridden by TILLBOX_<PATH> in upper snake
// case: http.port → TILLBOX_HTTP_PORT, mqtt.tls.certFile → TILLBOX_MQTT_TLS_CERT_FILE.
// The list is derived from the schema, so a new key is overridable for free.

interface EnvKey {
  name: string;
  path: string[];
  type: 'integer' | 'number' | 'boolean' | 'string' | 'json';
}

function snake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function leafType(schema: TSchema): EnvKey['type'] {
  if (schema.type === 'integer' || schema.type === 'number' || schema.type === 'boolean' || schema.type === 'string') return schema.type;
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s: TSchema) => typeof s.const === 'string')) return 'string';
  if (typeof schema.const === 'number') return 'integer';
  return 'json';
}

function collect(schema: TSchema, path: string[], out: EnvKey[]): void {
  if (schema.type === 'object' && schema.properties) {
    for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) collect(child, [...path, key], out);
    return;
  }
  out.push({ name: `TILLBOX_${path.map(snake).join('_')}`, path, type: leafType(schema) });
}

/** All environment variables the config understands (for docs and `config check`). */
export const ENV_KEYS: readonly EnvKey[] = (() => {
  const out: EnvKey[] = [];
  collect(ConfigSchema, [], out);
  return out;
})();

function coerce(key: EnvKey, raw: string): { value?: unknown; issue?: ConfigIssue } {
  const path = key.path.join('.');
  switch (key.type) {
    case 'integer':
    case 'number': {
      const n = Number(raw.trim());
      if (raw.trim() === '' || !Number.isFinite(n)) return { issue: { path, message: `${key.name}=${JSON.stringify(raw)} is not a number` } };
      return { value: n };
    }
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return { value: true };
      if (['0', 'false', 'no', 'off'].includes(v)) return { value: false };
      return { issue: { path, message: `${key.name}=${JSON.stringify(raw)} is not a boolean (true/false)` } };
    }
    case 'json':
      try {
        return { value: JSON.parse(raw) };
      } catch {
        return { issue: { path, message: `${key.name} must be JSON` } };
      }
    default:
      return { value: raw };
  }
}

/** Returns a copy of `doc` with env overrides applied; throws naming the bad variables. */
export function applyEnvOverrides(doc: Record<string, unknown>, env: NodeJS.ProcessEnv, source: string): Record<string, unknown> {
  const out = structuredClone(doc);
  const issues: ConfigIssue[] = [];
  for (const key of ENV_KEYS) {
    const raw = env[key.name];
    if (raw === undefined) continue;
    const { value, issue } = coerce(key, raw);
    if (issue) issues.push(issue);
    else setPath(out, key.path, value);
  }
  if (issues.length) throw new ConfigError(`${source} (environment)`, issues);
  return out;
}
