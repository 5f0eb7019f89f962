import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadCatalogFile } from '../../appliance/core/catalog-file.ts';
import { demoCatalogData } from '../../appliance/pos/demo-catalog.ts';
import { ConfigError } from '../../appliance/config/index.ts';

const write = (name: string, text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'tillbox-catalog-')), name);
  writeFileSync(f, text);
  return f;
};

describe('catalog file', () => {
  it('loads a YAML catalog for a box outside demo mode', () => {
    const catalog = loadCatalogFile(write('catalog.yaml', stringify(demoCatalogData())));
    expect(catalog.get('MILK-1L')?.price).toBe(119);
  });

  it('refuses a catalog with a wrong check digit and names catalog.file', () => {
    const data = demoCatalogData();
    data.items[0]!.barcodes = ['4001230001079'];
    try {
      loadCatalogFile(write('catalog.json', JSON.stringify(data)));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues[0]?.path).toBe('catalog.file');
      expect((err as ConfigError).message).toContain('4001230001079');
    }
  });
});
