import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.ts';

// A database that records what each batch asked for (GroupCommit writes
// through LevelDB's chained batch).
function fakeDb() {
  const batches: Array<{ keys: string[]; sync: boolean }> = [];
  /** What durable() asked of LevelDB besides batches. */
  const calls: string[] = [];
  const db = {
    compactRange: async () => {
      calls.push('flush memtable');
    },
    put: async (key: string, _v: Buffer, opts: { sync: boolean }) => {
      calls.push(`put ${key}${opts.sync ? ' with fsync' : ''}`);
    },
    batch: () => {
      const keys: string[] = [];
      return {
        put: (key: string) => keys.push(key),
        del: (key: string) => keys.push(key),
        close: async () => {},
        write: async (opts: { sync: boolean }) => {
          batches.push({ keys, sync: opts.sync });
        },
      };
    },
  };
  return { db: db as unknown as ConstructorParameters<typeof GroupCommit>[0], batches, calls };
}

describe('GroupCommit', () => {
  it('fsyncs a batch someone waits for, and writes a batch of lazy bookkeeping only without fsync', async () => {
    const { db, batches } = fakeDb();
    const w = new GroupCommit(db, true, (err) => {
      throw err;
    });
    await w.put('stored-message', Buffer.from('m'));
    await w.del('delivered-id', true); // lazy: written on its own a moment later
    await w.put('next-message', Buffer.from('n'));
    expect(batches).toEqual([
      { keys: ['stored-message'], sync: true },
      { keys: ['delivered-id'], sync: false },
      { keys: ['next-message'], sync: true },
    ]);
  });

  it("a lazy op that joins a batch someone waits for is fsync'd with it", async () => {
    const { db, batches } = fakeDb();
    const w = new GroupCommit(db, true, (err) => {
      throw err;
    });
    void w.del('delivered-id', true);
    await w.put('stored-message', Buffer.from('m'));
    expect(batches).toEqual([{ keys: ['delivered-id', 'stored-message'], sync: true }]);
  });

  it('durable() after an unsynced bookkeeping batch flushes LevelDB to synced files and writes a key with fsync, once', async () => {
    const { db, batches, calls } = fakeDb();
    const w = new GroupCommit(db, true, (err) => {
      throw err;
    });
    await w.put('stored-message', Buffer.from('m'));
    await w.durable(); // everything written was fsync'd: nothing more to do
    expect(calls).toEqual([]);
    await w.del('delivered-id', true); // written on its own a moment later, without fsync
    expect(batches.at(-1)).toEqual({ keys: ['delivered-id'], sync: false });
    await w.barrier(); // was enough before: returned at once, nothing fsync'd
    expect(calls).toEqual([]);
    await w.durable();
    expect(calls).toEqual(['flush memtable', 'put meta:durable with fsync']);
    await w.durable();
    expect(calls.length).toBe(2);
  });

  it('durable() without fsync policy is only a barrier', async () => {
    const { db, calls } = fakeDb();
    const w = new GroupCommit(db, false, (err) => {
      throw err;
    });
    await w.del('delivered-id', true);
    await w.durable();
    expect(calls).toEqual([]);
  });
});
