import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import type { FieldError } from '../../contract/problem.ts';

// Strict request validation for the POS, independent of the transport (HTTP
// today, MQTT requests later): no type coercion, no defaults, no silent
// removal of unknown fields, every error reported with its field path.

const ajv = new Ajv({
  allErrors: true,
  strict: true,
  discriminator: true,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
});

const MAX_REPORTED = 25;

/** Dot path of one ajv error: `lines.0.qty`; names the offending or missing property. */
function pathOf(err: ErrorObject, prefix: string): string {
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

function messageOf(err: ErrorObject): string {
  switch (err.keyword) {
    case 'additionalProperties':
      return 'unknown field';
    case 'required':
      return 'is required';
    case 'discriminator':
      return err.params.error === 'mapping' ? 'must be one of the known types' : 'must be a string naming the type';
    default:
      return err.message ?? 'is invalid';
  }
}

export function fieldErrors(errors: readonly ErrorObject[] | null | undefined, prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  const paths = new Set<string>();
  for (const err of errors ?? []) {
    const e = { path: pathOf(err, prefix), message: messageOf(err) };
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

export function validationError(message: string, errors: FieldError[]): TillboxError {
  return new TillboxError(ErrorCode.Validation, message, { field: errors[0]?.path, detail: { errors } });
}

export type Validator<S extends TSchema> = (value: unknown) => Static<S>;

/** Compiles `schema` once; the returned function returns the value typed, or throws a Validation error. */
export function validator<S extends TSchema>(schema: S, what: string, prefix = ''): Validator<S> {
  const fn: ValidateFunction = ajv.compile(schema);
  return (value: unknown) => {
    if (fn(value)) return value as Static<S>;
    throw validationError(`invalid ${what}`, fieldErrors(fn.errors, prefix));
  };
}

/** Boolean check without throwing (for consumers that only want yes/no). */
export function check<S extends TSchema>(schema: S, value: unknown): value is Static<S> {
  return ajv.validate(schema, value) as boolean;
}
