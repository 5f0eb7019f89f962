import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

// The one way tillbox replaces a file: write a temp file beside it, rename it
// over the old one. A reader (or a restart) sees the old or the new content,
// never half of one, and a failed write (ENOSPC, EIO) leaves the old file as
// it was. Every caller states how durable the write must be:
//
//   'durable'    fsync the temp file before the rename and the directory
//                after it: the new content survives power loss once this
//                returns. For state that is acknowledged to someone (sync
//                watermarks, print jobs, secrets).
//   'crash-safe' no fsync: survives kill -9 of the process (the kernel has the
//                data), but after a power cut the file may hold the old
//                content. For files whose loss only costs redoing work, and
//                the caller says so where it writes.
//
// A failed fsync is never retried on the same file (after a failed fsync the
// kernel may have dropped the dirty pages, and a second fsync would report
// success for data that is not on disk): the temp file is removed and the
// error thrown, and the next write starts from a fresh temp file.
//
// Under Node's permission model only the async form can be durable (Node 24
// disables fs.fsync and fs.fsyncSync there, but not FileHandle.sync()).

export type Durability = 'durable' | 'crash-safe';

export interface AtomicWriteOptions {
  durability: Durability;
  /**
   * File mode of the new file (default 0o600). A mode given is the mode the
   * file gets, whatever the umask: the image's units run with UMask=0077, and a
   * file other services read (runtime.json) must still be 0644. Set by path,
   * before the rename: Node's permission model refuses fchmod.
   */
  mode?: number;
  /** Create the parent directory (mode 0o700) when missing. */
  mkdir?: boolean;
}

let counter = 0;
const tempName = (file: string): string => `${file}.${process.pid}.${++counter}.tmp`;

export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<void> {
  if (options.mkdir) await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = tempName(file);
  try {
    const fh = await open(tmp, 'w', options.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      if (options.durability === 'durable') await fh.sync();
    } finally {
      await fh.close();
    }
    if (options.mode !== undefined) await chmod(tmp, options.mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (options.durability === 'durable') await fsyncDir(dirname(file));
}

/**
 * Makes a rename or create in `dir` durable. Through a FileHandle: under
 * Node's permission model (the flows process) fs.fsync/fsyncSync are
 * disabled, FileHandle.sync() is not.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let dh: Awaited<ReturnType<typeof open>>;
  try {
    dh = await open(dir, 'r');
  } catch (err) {
    // Node 24's permission model refuses to open a directory through
    // fs.promises even where reads are granted: the file itself is fsync'd,
    // and ext4 commits the rename with its next journal commit (<= 5 s).
    if ((err as NodeJS.ErrnoException).code === 'ERR_ACCESS_DENIED') return;
    throw err;
  }
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array, options: AtomicWriteOptions): void {
  if (options.mkdir) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = tempName(file);
  try {
    const fd = openSync(tmp, 'w', options.mode ?? 0o600);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      if (options.durability === 'durable') fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.mode !== undefined) chmodSync(tmp, options.mode);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (options.durability === 'durable') fsyncDirSync(dirname(file));
}

/** Makes a rename or create in `dir` durable. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** True for the errno codes that mean "the disk is full" (ENOSPC, and EDQUOT for a quota). */
export function isDiskFullError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    // LevelDB reports its own I/O errors as text: "IO error: ...: No space left on device".
    if (/No space left on device|Disk quota exceeded/i.test(e.message)) return true;
  }
  return false;
}
