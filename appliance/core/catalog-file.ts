import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config/index.ts';
import { Catalog } from '../pos/catalog.ts';

/** Reads a catalog file (YAML or JSON); every problem is reported against catalog.file. */
export function loadCatalogFile(file: string): Catalog {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('config', [{ path: 'catalog.file', message: `cannot read ${file}: ${(err as Error).message.split('\n')[0]}` }]);
  }
  try {
    return new Catalog(data as ConstructorParameters<typeof Catalog>[0]);
  } catch (err) {
    throw new ConfigError('config', [{ path: 'catalog.file', message: `${file}: ${(err as Error).message}` }]);
  }
}
