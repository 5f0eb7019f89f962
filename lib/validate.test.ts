import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { compileSchema, fieldErrors } from './validate.ts';

describe('compileSchema', () => {
  const Line = Type.Object({ sku: Type.String(), qty: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

  it('gives the errors of the last call, and none after a valid one', () => {
    const check = compileSchema(Line);
    expect(check({ sku: 'A', qty: 0 })).toBe(false);
    expect(fieldErrors(check.errors)).toEqual([{ path: 'qty', message: 'must be >= 1' }]);
    expect(check({ sku: 'A', qty: 2 })).toBe(true);
    expect(check.errors).toBeNull();
  });

  it('compiles on the first call, so a module that declares a validator it never uses pays nothing', () => {
    const broken = compileSchema(Type.Unsafe({ type: 'no-such-type' }));
    expect(() => broken(1)).toThrow(/type/);
  });

  it('fills defaults only when asked', () => {
    const WithDefault = Type.Object({ n: Type.Integer({ default: 3 }) });
    const plain: Record<string, unknown> = {};
    const filled: Record<string, unknown> = {};
    expect(compileSchema(WithDefault)(plain)).toBe(false);
    expect(compileSchema(WithDefault, { defaults: true })(filled)).toBe(true);
    expect(filled).toEqual({ n: 3 });
  });
});
