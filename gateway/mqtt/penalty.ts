/**
 * Reconnect-storm guard (issue 4 point 1). aedes closes a client whose publish is refused;
 * a device with auto-reconnect then retries the same refused message forever
 * (engineering.md trap). After `maxRejections` refusals within `windowMs`, the identity's
 * CONNECTs are refused, cheaply and before any password hashing, for a period that doubles
 * with each new offence up to `maxMs`. Pure: time comes from the injected clock.
 */
import type { Clock } from '../../protocols/clock.ts';

export interface PenaltySettings {
  maxRejections: number;
  windowMs: number;
  baseMs: number;
  maxMs: number;
}

const MAX_IDENTITIES = 5000;

interface Record {
  rejections: number[];
  offences: number;
  bannedUntil: number;
}

export class PenaltyBox {
  private records = new Map<string, Record>();

  constructor(private settings: PenaltySettings, private clock: Clock) {}

  /** Counts one refusal; returns the ban length (ms) when this refusal starts a ban, else 0. */
  reject(identity: string): number {
    const now = this.clock.now();
    let r = this.records.get(identity);
    if (!r) {
      // Bounded: random usernames from a scanner must not grow memory without end.
      if (this.records.size >= MAX_IDENTITIES) this.records.delete(this.records.keys().next().value as string);
      r = { rejections: [], offences: 0, bannedUntil: 0 };
      this.records.set(identity, r);
    }
    r.rejections = r.rejections.filter((t) => now - t < this.settings.windowMs);
    r.rejections.push(now);
    if (r.rejections.length < this.settings.maxRejections) return 0;
    const banMs = Math.min(this.settings.maxMs, this.settings.baseMs * 2 ** r.offences);
    r.offences++;
    r.rejections = [];
    r.bannedUntil = now + banMs;
    return banMs;
  }

  /** Refusals of this identity within the window (a CONNECT while this is > 0 is suspicious). */
  recentRejections(identity: string): number {
    const r = this.records.get(identity);
    if (!r) return 0;
    const now = this.clock.now();
    return r.rejections.filter((t) => now - t < this.settings.windowMs).length;
  }

  /** Milliseconds this identity stays refused (0 = may connect). */
  bannedFor(identity: string): number {
    const r = this.records.get(identity);
    if (!r) return 0;
    return Math.max(0, r.bannedUntil - this.clock.now());
  }

  /** Clears an identity (a supervisor fixed the device). */
  pardon(identity: string): void {
    this.records.delete(identity);
  }

  list(): { identity: string; bannedForMs: number; offences: number }[] {
    return [...this.records].map(([identity, r]) => ({ identity, bannedForMs: this.bannedFor(identity), offences: r.offences }));
  }
}

/**
 * Penalty keys (issue 12 point 15). Refusals of a CONNECT are keyed on where it came from,
 * the source address alone and the claimed username at that address, never on the claimed
 * username alone: anyone can claim a leak detector's name, so keying on it let a stranger
 * lock the real detector out. Refusals of an authenticated device (publish, subscribe) are
 * keyed on its id: only a connection that proved the password can earn those.
 */
export const addressKey = (address: string): string => `addr:${address}`;
export const claimKey = (username: string, address: string): string => `claim:${username}@${address}`;
export const deviceKey = (device: string): string => `device:${device}`;
