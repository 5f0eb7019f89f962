import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// The V8 flags of each box process live in bin/node-flags, read by the
// bin/tillbox launcher (and so by the image's units) and here, for the
// children `tillbox start` spawns: one list for both.

const FILE = resolve(import.meta.dirname, '../../bin/node-flags');

/** Flags for `command` (core, devices, flows, start; hq for the reference HQ); none when the file or the line is missing. */
export function nodeFlags(command: string, file = FILE): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  for (const line of text.split('\n')) {
    const [name, ...flags] = line.trim().split(/\s+/);
    if (name === command && !line.trimStart().startsWith('#')) return flags;
  }
  return [];
}
