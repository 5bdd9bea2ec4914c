/**
 * Remote commands (issue 10 point 9): a command runs only when signed by a trusted key, for
 * this station, within the time window and with a sequence above the key's last; every other
 * one is refused with its reason; every command, refused or not, is recorded; the sequence
 * survives a restart (station.db), so a replay after a restart is refused too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from '../../gateway/sqlite.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { signCommand, type UnsignedCommand } from '../../gateway/remote/command.ts';
import { RemoteHandler, type RemoteActions } from '../../gateway/remote/handler.ts';
import type { EventInput } from '../../gateway/records/event.ts';
import { tempDir } from './records/fixtures.ts';
import { cylinderCode, toFilling, toVerified } from './controller-support.ts';

const root = new URL('../..', import.meta.url).pathname;
const T0 = Date.UTC(2026, 2, 1, 8, 0, 0);

function setup(dbPath = ':memory:') {
  const reg = generateKeyPairSync('ed25519');
  const clock = new ManualClock(0, T0);
  const db = new Database(dbPath);
  const done: string[] = [];
  const events: EventInput[] = [];
  const actions: RemoteActions = {
    lock: (by) => void done.push(`lock ${by}`),
    unlock: (by) => void done.push(`unlock ${by}`),
    quarantine: (code, _r, by) => void done.push(`quarantine ${code} ${by}`),
    release: (code) => {
      if (code === 'NOPE') throw new Error('unknown cylinder NOPE');
      done.push(`release ${code}`);
    },
    status: () => ({ locks: [] }),
  };
  const make = (keys = new Map<string, KeyObject>([['reg1', reg.publicKey]])) =>
    new RemoteHandler({ db, clock, station: 'ST01', keys, maxSkewMs: 300_000, actions, record: (e) => void events.push(e) });
  const cmd = (over: Partial<UnsignedCommand> = {}, key: KeyObject = reg.privateKey) =>
    JSON.stringify(signCommand({ v: 1, station: 'ST01', keyId: 'reg1', seq: 1, issuedAt: new Date(T0).toISOString(), transaction: 't1', command: 'lock', ...over }, key));
  return { reg, clock, db, done, events, make, cmd };
}

test('a signed, fresh command from a trusted key runs, is answered ok and recorded', () => {
  const s = setup();
  const h = s.make();
  const r = h.handle(s.cmd());
  assert.equal(r, { transaction: 't1', status: 'ok', data: {} });
  assert.equal(s.done, ['lock remote:reg1']);
  assert.is(s.events.length, 1);
  assert.is(s.events[0].kind, 'remote.command');
  assert.is((s.events[0].data as { status: string }).status, 'ok');
  assert.is(h.lastSeq('reg1'), 1);
});

test('unsigned, wrongly signed, unknown-key, other-station, stale, replayed and malformed commands are refused with a reason and recorded', () => {
  const s = setup();
  const h = s.make();
  assert.is(h.handle(s.cmd({ seq: 5 })).status, 'ok');
  const intruder = generateKeyPairSync('ed25519');
  const unsigned = JSON.parse(s.cmd({ seq: 6 }));
  delete unsigned.sig;
  const altered = JSON.parse(s.cmd({ seq: 6, command: 'unlock' }));
  altered.command = 'lock';
  const cases: [string, string][] = [
    [JSON.stringify(unsigned), 'UNSIGNED'],
    [s.cmd({ seq: 6 }, intruder.privateKey), 'BAD_SIGNATURE'],
    [JSON.stringify(altered), 'BAD_SIGNATURE'],
    [s.cmd({ seq: 6, keyId: 'someone' }, intruder.privateKey), 'UNKNOWN_KEY'],
    [s.cmd({ seq: 6, station: 'ST99' }), 'WRONG_STATION'],
    [s.cmd({ seq: 6, issuedAt: new Date(T0 - 301_000).toISOString() }), 'STALE'],
    [s.cmd({ seq: 6, issuedAt: new Date(T0 + 301_000).toISOString() }), 'STALE'],
    [s.cmd({ seq: 5 }), 'REPLAYED'],
    [s.cmd({ seq: 4, transaction: 't-old' }), 'REPLAYED'],
    ['not json', 'BAD_PAYLOAD'],
    [JSON.stringify({ v: 1, command: 'self-destruct', transaction: 'tx' }), 'BAD_PAYLOAD'],
  ];
  for (const [payload, reason] of cases) {
    const r = h.handle(payload);
    assert.is(r.status, 'error', `${reason}: ${JSON.stringify(r)}`);
    assert.match((r as { error: string }).error, new RegExp(`^${reason}: `), payload.slice(0, 80));
  }
  assert.equal(s.done, ['lock remote:reg1'], 'none of them ran');
  assert.is(s.events.length, 1 + cases.length, 'every command recorded');
  assert.equal(s.events.slice(1).map((e) => e.reason), cases.map(([, r]) => r));
  assert.is(h.lastSeq('reg1'), 5, 'refused commands never move the sequence');
  // A forged command with a huge seq must not lock the real key out.
  h.handle(s.cmd({ seq: 1_000_000 }, intruder.privateKey));
  assert.is(h.handle(s.cmd({ seq: 6, command: 'unlock' })).status, 'ok');
});

test('quarantine and release need a code; a failing action answers error FAILED and is recorded', () => {
  const s = setup();
  const h = s.make();
  assert.match((h.handle(s.cmd({ seq: 1, command: 'quarantine' })) as { error: string }).error, /^FAILED: quarantine needs data.code/);
  assert.is(h.handle(s.cmd({ seq: 2, command: 'quarantine', data: { code: 'C1', reason: 'inspection' } })).status, 'ok');
  assert.match((h.handle(s.cmd({ seq: 3, command: 'release', data: { code: 'NOPE' } })) as { error: string }).error, /^FAILED: unknown cylinder NOPE/);
  assert.equal(s.done, ['quarantine C1 remote:reg1']);
});

test('the sequence is kept in station.db: the same command after a restart is a replay', () => {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'station.db');
  const s = setup(path);
  const payload = s.cmd({ seq: 7 });
  assert.is(s.make().handle(payload).status, 'ok');
  s.db.close();
  const db2 = new Database(path);
  const h2 = new RemoteHandler({ db: db2, clock: s.clock, station: 'ST01', keys: new Map([['reg1', s.reg.publicKey]]), maxSkewMs: 300_000, actions: { lock: () => undefined, unlock: () => undefined, quarantine: () => undefined, release: () => undefined, status: () => ({}) }, record: () => undefined });
  assert.match((h2.handle(payload) as { error: string }).error, /^REPLAYED/);
  db2.close();
  cleanup();
});

test('fillgate remote sign makes a command the station accepts', () => {
  const s = setup();
  const { dir, cleanup } = tempDir();
  const keyFile = join(dir, 'reg1.key.pem');
  writeFileSync(keyFile, s.reg.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  s.clock.epoch = Date.now(); // the CLI stamps the real time
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'remote', 'sign', '--key', keyFile, '--key-id', 'reg1', '--station', 'ST01', '--seq', '3', '--command', 'quarantine', '--code', 'E2000017A1B20004', '--reason', 'regulator hold'], { encoding: 'utf8', cwd: root });
  const r = s.make().handle(out.trim());
  assert.is(r.status, 'ok', JSON.stringify(r));
  assert.equal(s.done, ['quarantine E2000017A1B20004 remote:reg1']);
  cleanup();
});

test('the controller: a remote lock refuses a verified cylinder with STATION_LOCKED_REMOTE and closes a running fill (STATION_LOCK)', () => {
  const v = toVerified();
  const refused = v.feed({ kind: 'stationLock', lock: 'remote', active: true });
  const rec = refused.commands.find((c) => c.kind === 'record') as { attempt: { refusals: { code: string }[] } } | undefined;
  assert.ok(rec?.attempt.refusals.some((r) => r.code === 'STATION_LOCKED_REMOTE'), JSON.stringify(refused.commands));
  const again = v.feed(cylinderCode('C1', v.t + 1000));
  assert.ok(again.commands.some((c) => c.kind === 'record' && (c as { attempt: { refusals: { code: string }[] } }).attempt.refusals.some((r) => r.code === 'STATION_LOCKED_REMOTE')), 'a new scan under the lock is refused');
  const f = toFilling();
  const step = f.feed({ kind: 'stationLock', lock: 'remote', active: true });
  assert.is(step.commands[0].kind, 'closeValve', 'the close comes first');
  assert.is(f.phase, 'fault');
});

test.run();
