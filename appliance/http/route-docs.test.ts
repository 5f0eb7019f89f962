import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_FILE, renderedDoc } from '../../scripts/http-api-doc.ts';

describe('the HTTP API reference', () => {
  it('is the table the routes generate (regenerate: node scripts/http-api-doc.ts)', async () => {
    const current = readFileSync(DOC_FILE, 'utf8');
    expect(current).toBe(await renderedDoc(current));
  });
});
