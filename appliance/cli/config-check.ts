import { loadConfig } from '../config/index.ts';
import { isTillboxError } from '../../contract/errors.ts';

export function runConfigCheck(file: string, env: NodeJS.ProcessEnv = process.env): number {
  try {
    loadConfig({ file, env });
    console.log(`${file}: ok`);
    return 0;
  } catch (err) {
    if (isTillboxError(err)) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
}
