/**
 * Checks and runs a remote command (command.ts), in this order, each failure a refusal
 * with its own reason: BAD_PAYLOAD (not JSON, bad shape), WRONG_STATION, UNSIGNED,
 * UNKNOWN_KEY, BAD_SIGNATURE, STALE (issuedAt outside the window), REPLAYED (seq not above
 * the last accepted one of that key). Only a command that passes all of them moves the
 * key's sequence (station.db, so a restart does not reopen a replay) and is run. Every
 * command, refused ones included, is recorded in the signed event log and answered with
 * the envelope `{transaction, status: "ok", data}` or `{transaction, status: "error", error}`
 * (error = "REASON: text").
 */
import type Database from 'better-sqlite3';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage, isFillgateError } from '../../protocols/errors.ts';
import type { EventInput } from '../records/event.ts';
import { remoteCommandSchema, verifyCommand, type RemoteCommand, type RemoteCommandName } from './command.ts';

export type RefuseReason = 'BAD_PAYLOAD' | 'WRONG_STATION' | 'UNSIGNED' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'STALE' | 'REPLAYED' | 'FAILED';

export type CommandReply = { transaction: string; status: 'ok'; data?: Record<string, unknown> } | { transaction: string; status: 'error'; error: string };

export interface RemoteActions {
  lock(by: string, reason?: string): Record<string, unknown> | void;
  unlock(by: string, reason?: string): Record<string, unknown> | void;
  quarantine(code: string, reason: string, by: string): Record<string, unknown> | void;
  release(code: string, reason: string, by: string): Record<string, unknown> | void;
  status(): Record<string, unknown>;
}

export interface RemoteHandlerDeps {
  db: Database.Database;
  clock: Clock;
  station: string;
  keys: Map<string, KeyObject>;
  maxSkewMs: number;
  actions: RemoteActions;
  /** The signed event log (never throws: the station's recordEvent). */
  record(e: EventInput): void;
}

export class RemoteHandler {
  readonly stats = { accepted: 0, refused: 0 };
  constructor(private readonly d: RemoteHandlerDeps) {
    d.db.exec('CREATE TABLE IF NOT EXISTS remote_seq (key_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, at TEXT NOT NULL)');
  }

  lastSeq(keyId: string): number {
    const r = this.d.db.prepare('SELECT seq FROM remote_seq WHERE key_id = ?').get(keyId) as { seq: number } | undefined;
    return r?.seq ?? 0;
  }

  handle(payload: Buffer | string): CommandReply {
    const raw = typeof payload === 'string' ? payload : payload.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return this.refuse(undefined, transactionOf(undefined), 'BAD_PAYLOAD', 'the command is not JSON');
    }
    const parsed = remoteCommandSchema.safeParse(json);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return this.refuse(json, transactionOf(json), 'BAD_PAYLOAD', `${i.path.join('.') || '(root)'}: ${i.message}`);
    }
    const c = parsed.data;
    if (c.station !== this.d.station) return this.refuse(c, c.transaction, 'WRONG_STATION', `the command is for station ${c.station}, this is ${this.d.station}`);
    if (!c.sig) return this.refuse(c, c.transaction, 'UNSIGNED', 'the command carries no signature');
    const key = this.d.keys.get(c.keyId);
    if (!key) return this.refuse(c, c.transaction, 'UNKNOWN_KEY', `key ${c.keyId} is not in remote.trustedKeys`);
    if (!verifyCommand(c, key)) return this.refuse(c, c.transaction, 'BAD_SIGNATURE', `the signature does not verify with key ${c.keyId}: forged or altered`);
    const skew = this.d.clock.wall() - Date.parse(c.issuedAt);
    if (Math.abs(skew) > this.d.maxSkewMs) {
      return this.refuse(c, c.transaction, 'STALE', `issued ${Math.round(skew / 1000)} s ${skew > 0 ? 'ago' : 'ahead'}, outside the ${this.d.maxSkewMs / 1000} s window`);
    }
    // Check and move the key's sequence in one transaction: two copies of one command cannot both pass.
    const last = this.d.db.transaction(() => {
      const prev = this.lastSeq(c.keyId);
      if (c.seq <= prev) return prev;
      this.d.db
        .prepare('INSERT INTO remote_seq (key_id, seq, at) VALUES (?, ?, ?) ON CONFLICT(key_id) DO UPDATE SET seq = excluded.seq, at = excluded.at')
        .run(c.keyId, c.seq, new Date(this.d.clock.wall()).toISOString());
      return undefined;
    })();
    if (last !== undefined) return this.refuse(c, c.transaction, 'REPLAYED', `seq ${c.seq} of key ${c.keyId} is not above the last accepted (${last})`);
    let data: Record<string, unknown>;
    try {
      data = this.run(c) ?? {};
    } catch (err) {
      const why = isFillgateError(err) ? `${err.code}: ${err.message}` : errorMessage(err);
      return this.refuse(c, c.transaction, 'FAILED', why);
    }
    this.stats.accepted++;
    this.d.record(this.event(c, 'ok', undefined, undefined, data));
    return { transaction: c.transaction, status: 'ok', data };
  }

  private run(c: RemoteCommand): Record<string, unknown> | void {
    const by = `remote:${c.keyId}`;
    const reason = c.data?.reason ?? `remote ${c.command} (${c.transaction})`;
    const a = this.d.actions;
    const code = () => {
      if (!c.data?.code) throw new Error(`${c.command} needs data.code (the cylinder code)`);
      return c.data.code;
    };
    switch (c.command as RemoteCommandName) {
      case 'lock':
        return a.lock(by, reason);
      case 'unlock':
        return a.unlock(by, reason);
      case 'quarantine':
        return a.quarantine(code(), reason, by);
      case 'release':
        return a.release(code(), reason, by);
      case 'status':
        return a.status();
    }
  }

  private refuse(c: unknown, transaction: string, reason: RefuseReason, message: string): CommandReply {
    this.stats.refused++;
    this.d.record(this.event(c, 'refused', reason, message));
    return { transaction, status: 'error', error: `${reason}: ${message}` };
  }

  private event(c: unknown, status: 'ok' | 'refused', reason?: string, detail?: string, result?: Record<string, unknown>): EventInput {
    const o = (c && typeof c === 'object' ? c : {}) as Partial<RemoteCommand>;
    const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 128) : undefined);
    const keyId = str(o.keyId);
    return {
      kind: 'remote.command',
      subject: str(o.command),
      by: keyId ? `remote:${keyId}` : 'remote:?',
      reason,
      detail,
      data: {
        status,
        transaction: str(o.transaction),
        command: str(o.command),
        keyId,
        seq: typeof o.seq === 'number' ? o.seq : undefined,
        issuedAt: str(o.issuedAt),
        code: str(o.data?.code),
        commandReason: str(o.data?.reason),
        signed: typeof o.sig === 'string',
        ...(result && o.command !== 'status' ? { result } : {}),
      },
    };
  }
}

function transactionOf(json: unknown): string {
  const t = (json as { transaction?: unknown } | undefined)?.transaction;
  return typeof t === 'string' && t.length > 0 && t.length <= 128 ? t : 'unknown';
}
