import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';

// The one way tillbox checks data against a contract schema (TypeBox = JSON
// Schema) and says what is wrong: HTTP bodies, config files, MQTT messages
// from the cloud, HQ's ingest, device command envelopes, state files. Strict:
// no type coercion, no silent removal of unknown fields; defaults are filled
// in only where asked (the config file). Errors come as field paths in dot
// notation (`lines.0.qty`), one line each.

// validateSchema: checking each schema against JSON Schema's meta schema
// compiles that meta schema first, once per Ajv: ~35 ms of CPU per instance
// at every process start (flows profile, issue 14). The schemas are code
// (TypeBox), so they are checked where code is checked: under vitest.
const BASE = { allErrors: true, strict: false, discriminator: true, coerceTypes: false, removeAdditional: false, validateSchema: process.env.VITEST !== undefined } as const;
const strictAjv = new Ajv({ ...BASE, useDefaults: false });
const defaultingAjv = new Ajv({ ...BASE, useDefaults: true });

/**
 * A validator for `schema`, compiled on its first call (then cached by the
 * schema object). `defaults` fills `default` values in (config only).
 * Compiled lazily because modules declare their validators at load time and
 * most of them serve one process, one route or one error path: compiling all
 * of them was the largest part of core's start in a CPU profile (issue 14).
 * `errors` is that of the last call, as on ajv's own function.
 */
export function compileSchema<S extends TSchema>(schema: S, options: { defaults?: boolean } = {}): ValidateFunction<Static<S>> {
  const ajv = options.defaults ? defaultingAjv : strictAjv;
  let compiled: ValidateFunction<Static<S>> | undefined;
  const validate = ((data: unknown) => {
    compiled ??= ajv.compile<Static<S>>(schema);
    const ok = compiled(data);
    validate.errors = compiled.errors;
    return ok;
  }) as ValidateFunction<Static<S>>;
  validate.schema = schema;
  return validate;
}

export interface FieldError {
  /** Dot path of the offending (or missing) field; '' for the whole value. */
  path: string;
  message: string;
}

const MAX_REPORTED = 25;

/** Dot path of one ajv error: `lines.0.qty`; names the offending or missing property. */
export function pathOf(err: ErrorObject, prefix = ''): string {
  const parts = err.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (err.keyword === 'additionalProperties') parts.push(String(err.params.additionalProperty));
  if (err.keyword === 'required') parts.push(String(err.params.missingProperty));
  if (err.keyword === 'discriminator' && err.params.tag) parts.push(String(err.params.tag));
  const path = parts.join('.');
  return prefix && path ? `${prefix}.${path}` : prefix || path;
}

function messageOf(err: ErrorObject, unknownField: string): string {
  switch (err.keyword) {
    case 'additionalProperties':
      return unknownField;
    case 'required':
      return 'is required';
    case 'discriminator':
      return err.params.error === 'mapping' ? 'must be one of the known types' : 'must be a string naming the type';
    default:
      return err.message ?? 'is invalid';
  }
}

/** Every distinct problem (at most 25), each with its field path. */
export function fieldErrors(errors: readonly ErrorObject[] | null | undefined, options: { prefix?: string; unknownField?: string } = {}): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  const paths = new Set<string>();
  for (const err of errors ?? []) {
    const e = { path: pathOf(err, options.prefix), message: messageOf(err, options.unknownField ?? 'unknown field') };
    // A bad tender type is already reported by its enum; the discriminator repeats it.
    if (err.keyword === 'discriminator' && paths.has(e.path)) continue;
    paths.add(e.path);
    const k = `${e.path}\u0000${e.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
    if (out.length >= MAX_REPORTED) break;
  }
  return out;
}

/** The first problem as one line (`lines.0.qty must be >= 1`), for logs and short refusal reasons. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, options: { prefix?: string } = {}): string {
  const e = fieldErrors(errors, options)[0];
  if (!e) return 'invalid';
  return `${e.path || '(root)'} ${e.message}`;
}
