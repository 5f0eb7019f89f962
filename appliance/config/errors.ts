import { ErrorCode, TillboxError } from '../../contract/errors.ts';

export interface ConfigIssue {
  /** Dot path of the offending field, e.g. "mqtt.tls.port" ("" for the root). */
  path: string;
  message: string;
}

export class ConfigError extends TillboxError {
  readonly issues: ConfigIssue[];
  constructor(source: string, issues: ConfigIssue[]) {
    super(ErrorCode.ConfigInvalid, `${source}: ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n` + issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'), {
      field: issues[0]?.path,
      detail: { issues },
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Sets a nested key, creating intermediate mappings. */
export function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}
