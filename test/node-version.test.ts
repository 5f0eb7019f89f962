import { describe, expect, it } from 'vitest';

describe('runtime', () => {
  it('runs the test suite on Node 24 LTS, the version the product ships with', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
  });
});
