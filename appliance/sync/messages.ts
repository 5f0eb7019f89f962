import { compileSchema, describeErrors } from '../../lib/validate.ts';
import type { Static, TSchema } from '@sinclair/typebox';
import { CatalogUpdate, CloudCommand, ConflictUpdate, SyncAck } from '../../contract/sync.ts';
import { SyncError, SyncErrorCode } from './errors.ts';

// Every message from the cloud is checked against the contract before it
// touches anything; a bad one is logged and counted, never applied.

export type Parser<T> = (payload: Buffer) => T;

function parser<S extends TSchema>(schema: S, name: string): Parser<Static<S>> {
  const validate = compileSchema(schema);
  return (payload) => {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch {
      throw new SyncError(SyncErrorCode.BadMessage, `${name} is not JSON`);
    }
    if (!validate(value)) {
      throw new SyncError(SyncErrorCode.BadMessage, `${name} does not match the contract: ${describeErrors(validate.errors)}`);
    }
    return value as Static<S>;
  };
}

export const parseAck = parser(SyncAck, 'ack');
export const parseCatalogUpdate = parser(CatalogUpdate, 'catalog update');
export const parseConflictUpdate = parser(ConflictUpdate, 'conflict update');
export const parseCommand = parser(CloudCommand, 'command');
