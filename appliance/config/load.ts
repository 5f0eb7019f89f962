import { readFileSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import { compileSchema } from '../../lib/validate.ts';
import { parse as parseYaml, type YAMLParseError } from 'yaml';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { ConfigSchema, peripheralKeys, type Config } from './schema.ts';
import { applyEnvOverrides } from './env.ts';
import { ConfigError, setPath, type ConfigIssue } from './errors.ts';
import { checkPeripherals } from './peripherals.ts';
import { PERIPHERAL_KINDS } from '../../contract/devices.ts';

export { ConfigError, type ConfigIssue };

// Defaults filled in: the schema's defaults are the config's defaults. The wording of
// config problems ('unknown key', union branches folded) is the config's own (describe below).
const validate = compileSchema(ConfigSchema, { defaults: true });

function toPath(instancePath: string): string {
  return instancePath
    .replace(/^\//, '')
    .split('/')
    .filter(Boolean)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.');
}

function kindAt(doc: unknown, path: string): unknown {
  const i = Number(path.split('.')[1]);
  return (doc as { peripherals?: Array<{ kind?: unknown }> }).peripherals?.[i]?.kind;
}

function describe(err: ErrorObject, doc: unknown): ConfigIssue {
  const base = toPath(err.instancePath);
  const join = (child: string) => (base ? `${base}.${child}` : child);
  switch (err.keyword) {
    case 'additionalProperties': {
      // In a peripheral entry, say which keys its kind has.
      const keys = /^peripherals\.\d+$/.test(base) ? peripheralKeys(String(kindAt(doc, base))) : undefined;
      return { path: join(String(err.params.additionalProperty)), message: keys ? `unknown key (a ${String(kindAt(doc, base))} entry has ${keys.join(', ')})` : 'unknown key' };
    }
    case 'required':
      return { path: join(String(err.params.missingProperty)), message: 'is required' };
    case 'const':
      return { path: base, message: `must be ${JSON.stringify(err.params.allowedValue)}` };
    case 'discriminator': {
      // A peripheral's `kind` picks its entry shape (schema.ts Peripheral).
      const tag = String(err.params.tag);
      return err.params.error === 'mapping' ? { path: join(tag), message: `must be one of ${PERIPHERAL_KINDS.join(', ')}` } : { path: join(tag), message: 'is required' };
    }
    default:
      return { path: base, message: err.message ?? 'is invalid' };
  }
}

/** Validates a parsed document, filling defaults. Throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, source = 'config'): Config {
  const doc: unknown = raw === null || raw === undefined ? {} : structuredClone(raw);
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(source, [{ path: '', message: 'must be a mapping (key: value pairs)' }]);
  }
  if (!validate(doc)) {
    const seen = new Set<string>();
    const issues: ConfigIssue[] = [];
    for (const e of validate.errors ?? []) {
      // anyOf/union branches repeat themselves; keep one message per path.
      const issue = e.keyword === 'anyOf' ? { path: toPath(e.instancePath), message: 'is not one of the allowed values' } : describe(e, doc);
      const key = `${issue.path}\u0000${issue.message}`;
      if (e.keyword === 'const' && (validate.errors ?? []).some((o) => o.keyword === 'anyOf' && o.instancePath === e.instancePath)) continue;
      if (!seen.has(key)) {
        seen.add(key);
        issues.push(issue);
      }
    }
    throw new ConfigError(source, issues);
  }
  const crossField = checkPeripherals(doc.peripherals);
  if (crossField.length) throw new ConfigError(source, crossField);
  return doc;
}

export interface LoadOptions {
  /** YAML file; absent means defaults only (plus env). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Applied after the file and before env (e.g. `{ demo: true }` from --demo). */
  overrides?: Record<string, unknown>;
}

/** Reads, merges (file < overrides < env) and validates the config. */
export function loadConfig(options: LoadOptions = {}): Config {
  let doc: Record<string, unknown> = { version: 1 };
  const source = options.file ?? 'defaults';
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (cause) {
      throw new TillboxError(ErrorCode.ConfigUnreadable, `cannot read config file ${options.file}: ${(cause as Error).message}`, { cause });
    }
    try {
      const parsed: unknown = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
      if (parsed === null || parsed === undefined) doc = {};
      else if (typeof parsed === 'object' && !Array.isArray(parsed)) doc = parsed as Record<string, unknown>;
      else throw new ConfigError(source, [{ path: '', message: 'must be a mapping (key: value pairs)' }]);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const e = err as YAMLParseError;
      const where = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
      throw new ConfigError(source, [{ path: '', message: `not valid YAML${where}: ${e.message.split('\n')[0]}` }]);
    }
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(doc, path.split('.'), value);
  const withEnv = applyEnvOverrides(doc, options.env ?? process.env, source);
  return validateConfig(withEnv, source);
}
