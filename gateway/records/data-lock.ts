/**
 * One gateway per data dir. The running gateway holds an exclusive SQLite lock on
 * `<dataDir>/gateway.lock` (locking_mode=EXCLUSIVE: taken once, held until the file is
 * closed) for its whole life; the lock is the kernel's (fcntl), so a killed gateway leaves
 * none behind and a reused PID cannot fake one. Two processes signing records on one chain
 * would fork it, so a second gateway refuses to start, and `fillgate keys rotate` refuses to
 * run beside a gateway that signs with the key it replaces (key-rotation.ts).
 * The PID is written beside it (`gateway.pid`) only to name the holder in the message.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { FillgateError } from '../../protocols/errors.ts';
import { join } from 'node:path';
import Database from '../sqlite.ts';

export const LOCK_FILE = 'gateway.lock';
const PID_FILE = 'gateway.pid';

export interface DataDirLock {
  release(): void;
}

/** Take the data dir's lock, or `undefined` if another process (or another holder in this one) has it. */
export function tryLockDataDir(dir: string, holder = 'gateway'): DataDirLock | undefined {
  const db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; in this mode it is kept after the commit.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER, what TEXT); COMMIT');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return undefined;
    throw err;
  }
  writeFileSync(join(dir, PID_FILE), `${process.pid} ${holder}\n`);
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(join(dir, PID_FILE), { force: true });
      db.close();
    },
  };
}

/** Who holds the lock, as written beside it ("1234 gateway"), for messages. */
export function lockHolder(dir: string): string {
  try {
    return readFileSync(join(dir, PID_FILE), 'utf8').trim();
  } catch {
    return 'unknown process';
  }
}

/** The message when the lock is taken. */
export function dataDirBusy(dir: string, what: string): string {
  const [pid, holder] = lockHolder(dir).split(' ');
  return `${what}: a fillgate ${holder ?? 'process'} (pid ${pid}) runs on the data dir ${dir} (${join(dir, LOCK_FILE)} is locked)`;
}

/**
 * At the very start of the gateway, before any valve is written: the lock of a data dir that is
 * already there. Throws (context.busy) when another gateway holds it; `undefined` when the dir is
 * not there yet or cannot be locked now (the start then fails or locks after the valves are OFF).
 */
export function lockExistingDataDir(dir: string): DataDirLock | undefined {
  let lock: DataDirLock | undefined;
  try {
    if (!statSync(dir).isDirectory()) return undefined;
    lock = tryLockDataDir(dir);
  } catch {
    return undefined;
  }
  if (!lock) throw new FillgateError('BAD_CONFIG', dataDirBusy(dir, 'not starting'), { dataDir: dir, busy: true });
  return lock;
}
