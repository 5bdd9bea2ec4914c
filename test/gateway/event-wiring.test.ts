/**
 * What feeds the signed event log at a running station (issue 10 point 6): every latch
 * history line (leak lock and its reset, post trip resets, store/upload locks, refused
 * resets), registry changes with import summaries but not one event per imported row, the
 * start with its config hash and a config.changed event when the file differs from the last
 * start.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from '../../gateway/sqlite.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { EventLog } from '../../gateway/records/events.ts';
import { LatchStore } from '../../gateway/runtime/latches.ts';
import { openRegistry } from '../../gateway/registry/registry.ts';
import { attachStationEvents, recordStart } from '../../gateway/runtime/event-wiring.ts';
import { silentLogs } from '../../gateway/log.ts';
import { LeakService } from '../../gateway/leak/service.ts';
import { tempDir } from './records/fixtures.ts';

const root = new URL('../..', import.meta.url).pathname;

function setup(withLeak = false) {
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
  const { privateKey } = generateKeyPairSync('ed25519');
  const log = new EventLog({ db: ':memory:', clock, station: 'ST01', privateKey });
  const db = new Database(':memory:');
  const latches = new LatchStore(db, clock);
  const registry = openRegistry(db, { clock });
  const record = (e: Parameters<EventLog['append']>[0]) => void log.append(e);
  const leak = withLeak
    ? new LeakService({ clock, settings: { detectors: ['ld-P1'], cutoffs: [], silentAfterMs: 60_000, cutoffAckTimeoutMs: 1000, cutoffRetries: 1 }, actuators: {}, locations: { 'ld-P1': 'P1' } })
    : undefined;
  const off = attachStationEvents({ log, record, latches, registry, leak, logger: silentLogs('test') });
  return { clock, log, latches, registry, record, off, leak };
}

test('latch sets, lifts and refused resets become signed events with who did them', () => {
  const s = setup();
  s.latches.set('leak', 'LEAK_ALARM', 'ld-P1: level 2', { level: 2 }, 'leak interlock');
  s.latches.note('leak', 'refused', 'B1009', 'RESET_REFUSED', 'ld-P1: level 2');
  s.latches.lift('leak', 'B1009');
  s.latches.set('post:P1', 'STALE_WEIGHT', undefined, undefined, 'controller');
  s.latches.lift('post:P1', 'B1009');
  s.latches.note('upload', 'set', 'condition', 'STATION_LOCKED_UPLOAD', 'oldest 2 h');
  s.off.flush();
  const ev = s.log.recent(10).reverse();
  assert.equal(ev.map((e) => `${e.kind} ${e.subject} ${e.by}`), [
    'latch.set leak leak interlock',
    'latch.refused leak B1009',
    'latch.lift leak B1009',
    'latch.set post:P1 controller',
    'latch.lift post:P1 B1009',
    'latch.set upload condition',
  ]);
  assert.is(ev[3].post, 'P1');
  assert.is(ev[0].reason, 'LEAK_ALARM');
  s.off();
});

test('events from the safety path are written on the next turn, never before the lock reaches the posts', async () => {
  const s = setup(true);
  s.latches.set('leak', 'LEAK_ALARM', undefined, { level: 1 }, 'leak interlock');
  assert.is(s.log.counts().total, 0, 'nothing written synchronously');
  await new Promise((r) => setImmediate(r));
  assert.is(s.log.counts().total, 1, 'written on the next turn');
  s.off();
});

test('a leak alarm raised and cleared is a pair of signed events naming the detector and its post', () => {
  const s = setup(true);
  const reading = (level: 0 | 1 | 2) => s.leak!.feed({ kind: 'leak-detector', device: 'ld-P1', channel: 'state', data: { lel: level * 20, level, fault: false } });
  reading(0);
  s.clock.advance(100);
  reading(2);
  s.clock.advance(100);
  reading(0);
  s.off.flush();
  const alarms = s.log.recent(20).reverse().filter((e) => e.kind.startsWith('alarm.'));
  assert.equal(alarms.map((e) => `${e.kind} ${e.subject} ${e.post} ${(e.data as { alarmKind: string }).alarmKind}`), ['alarm.raised ld-P1 P1 leak', 'alarm.cleared ld-P1 P1 leak']);
  s.off();
});

test('registry: quarantine, release, scrap and the import summary are events; imported rows are not', () => {
  const s = setup();
  const csv = readFileSync(join(root, 'examples/cylinders.csv'), 'utf8');
  const rep = s.registry.importCylinders(csv, 'csv', { source: 'cylinders.csv' });
  assert.ok(rep.applied);
  const code = 'E2000017A1B20004';
  s.registry.quarantine(code, 'suspected pocket code', 'B1009');
  s.registry.release(code, 'checked', 'B1009');
  s.registry.scrap(code, 'failed inspection', 'B1009');
  s.off.flush();
  const kinds = s.log.recent(50).reverse().map((e) => e.kind);
  assert.equal(kinds, ['registry.cylinders.imported', 'registry.cylinder.quarantined', 'registry.cylinder.active', 'registry.cylinder.scrapped']);
  const q = s.log.recent(50, 'registry.cylinder.quarantined')[0];
  assert.is(q.subject, code);
  assert.is(q.by, 'B1009');
  assert.is(q.detail, 'suspected pocket code');
  s.off();
});

test('each start is recorded with the config hash; a changed config file is a config.changed event', () => {
  const s = setup();
  const { dir, cleanup } = tempDir();
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, 'station: { code: ST01 }\n');
  recordStart(s.log, s.record, { file, config: {} });
  recordStart(s.log, s.record, { file, config: {} });
  assert.is(s.log.recent(10, 'config.changed').length, 0, 'same file: no change');
  writeFileSync(file, 'station: { code: ST01 }\nfill: { toleranceKg: 0.5 }\n');
  recordStart(s.log, s.record, { file, config: {} });
  const changed = s.log.recent(10, 'config.changed');
  assert.is(changed.length, 1);
  const started = s.log.recent(10, 'station.started');
  assert.is(started.length, 3);
  assert.is((changed[0].data as { hash: string }).hash, (started[0].data as { configHash: string }).configHash);
  assert.is((changed[0].data as { previousHash: string }).previousHash, (started[1].data as { configHash: string }).configHash);
  s.off();
  cleanup();
});

test.run();
