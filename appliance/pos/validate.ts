import { compileSchema, fieldErrors } from '../../lib/validate.ts';
import type { Static, TSchema } from '@sinclair/typebox';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import type { FieldError } from '../../contract/problem.ts';

// POS request validation on lib/validate.ts (strict, every error with its
// field path), raising the POS's Validation error.

export { fieldErrors };

export function validationError(message: string, errors: FieldError[]): TillboxError {
  return new TillboxError(ErrorCode.Validation, message, { field: errors[0]?.path, detail: { errors } });
}

export type Validator<S extends TSchema> = (value: unknown) => Static<S>;

/** Compiles `schema` once; the returned function returns the value typed, or throws a Validation error. */
export function validator<S extends TSchema>(schema: S, what: string, prefix = ''): Validator<S> {
  const fn = compileSchema(schema);
  return (value: unknown) => {
    if (fn(value)) return value as Static<S>;
    throw validationError(`invalid ${what}`, fieldErrors(fn.errors, { prefix }));
  };
}

/** Boolean check without throwing (for consumers that only want yes/no). */
export function check<S extends TSchema>(schema: S, value: unknown): value is Static<S> {
  return compileSchema(schema)(value);
}
