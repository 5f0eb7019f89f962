import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.ts';

// A database that records what each batch asked for (GroupCommit writes
// through LevelDB's chained batch).
function fakeDb() {
  const batches: Array<{ keys: string[]; sync: boolean }> = [];
  const db = {
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
  return { db: db as unknown as ConstructorParameters<typeof GroupCommit>[0], batches };
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
});
