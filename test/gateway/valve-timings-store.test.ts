/**
 * The learned valve timing is kept per post and valve in station.db (gateway/runtime/preacts.ts,
 * issue 14 point 2): it survives a reopen, another valve at the same post starts with nothing (a
 * conservative first fill), and an unreadable row is learned again rather than trusted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../../gateway/sqlite.ts';
import { PreactStore } from '../../gateway/runtime/preacts.ts';

test('valve timings: per post and valve, kept across a reopen, another valve starts over, a bad row is not trusted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-timing-'));
  try {
    const file = join(dir, 'station.db');
    let db = new Database(file);
    const store = new PreactStore(db);
    const t = { closeMs: 142.5, spreadMs: 6, openMs: 70, openLagMs: 61, openLagVar: 30, feedbackMs: 130, fills: 7 };
    store.saveTiming('P1', 'relays/1/0', t);
    store.saveTiming('P1', 'relays/1/0', { ...t, fills: 8 });
    db.close();
    db = new Database(file);
    const again = new PreactStore(db);
    assert.equal(again.loadTiming('P1', 'relays/1/0'), { ...t, fills: 8 });
    assert.is(again.loadTiming('P1', 'relays/1/1'), undefined, 'another coil: not learned');
    assert.is(again.loadTiming('P2', 'relays/1/0'), undefined, 'another post: not learned');
    db.prepare("UPDATE valve_timings SET timing = '{\"closeMs\":\"x\"}' WHERE post = 'P1'").run();
    assert.is(again.loadTiming('P1', 'relays/1/0'), undefined, 'unreadable: learned again');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
