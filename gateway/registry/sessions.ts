/**
 * Who is badged in as the filler at which post. In memory: a restart asks
 * everyone to badge in again, which is the safe side. Timeouts use the
 * monotonic clock, so a PC clock change cannot end or extend a session.
 * The controller decides what a badge-out means during a fill; this only keeps
 * the roster.
 */
import type { Clock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';
import { checkOperator, samePerson, type Refusal } from '../eligibility/check.ts';
import { defaultEligibilitySettings, type EligibilitySettings } from '../eligibility/settings.ts';
import type { Operator } from './types.ts';

export interface FillerSession {
  post: string;
  operator: Operator;
  /** Monotonic ms. */
  since: number;
  lastActivity: number;
}

export type BadgeOutcome =
  | { kind: 'badged-in'; post: string; operator: Operator; replaced?: Operator; movedFrom?: string }
  | { kind: 'badged-out'; post: string; operator: Operator }
  | { kind: 'supervisor'; post: string; operator: Operator }
  | { kind: 'refused'; post: string; badge: string; refusals: Refusal[] };

export type SessionEndReason = 'badge-out' | 'timeout' | 'replaced' | 'moved' | 'ended';

export interface SessionChange {
  kind: 'in' | 'out';
  post: string;
  operator: Operator;
  reason?: SessionEndReason;
}

export type SessionSettings = Pick<EligibilitySettings, 'badgeIdleTimeoutMs' | 'allowFillerAtSeveralPosts'>;

/** A supervisor badge is recognised by role (it acknowledges or overrides; it does not fill). */
export function isSupervisor(op: Operator | undefined): boolean {
  return !!op && op.roles.includes('supervisor');
}

export class BadgeSessions {
  private readonly sessions = new Map<string, FillerSession>();
  /** Every badge-in and end of a session, for the log and the post display. */
  readonly changes = new Signal<SessionChange>();

  constructor(
    private readonly clock: Clock,
    private readonly settings: SessionSettings = defaultEligibilitySettings,
  ) {}

  /**
   * A badge was presented at a post. `operator` is the registry's record for the badge
   * (undefined if unknown). A supervisor who does not also hold the filler role is
   * reported as such and changes nothing; the filler who is badged in badges out by
   * presenting the badge again; anyone else badges in if they may fill today.
   */
  present(post: string, badge: string, operator: Operator | undefined, today: string): BadgeOutcome {
    if (!operator) return { kind: 'refused', post, badge, refusals: [{ code: 'OPERATOR_UNKNOWN', detail: `badge ${badge}` }] };
    if (isSupervisor(operator) && !operator.roles.includes('filler')) return { kind: 'supervisor', post, operator };
    const current = this.session(post);
    if (current && samePerson(current.operator, operator)) {
      this.end(post, 'badge-out');
      return { kind: 'badged-out', post, operator: current.operator };
    }
    return this.badgeIn(post, operator, today);
  }

  /** Badge a filler in at a post, replacing whoever was there; refused unless checkOperator passes. */
  badgeIn(post: string, operator: Operator, today: string): BadgeOutcome {
    const refusals = checkOperator(operator, 'filler', today);
    if (refusals.length) return { kind: 'refused', post, badge: operator.badge, refusals };
    let movedFrom: string | undefined;
    if (!this.settings.allowFillerAtSeveralPosts) {
      for (const s of this.active()) {
        if (s.post !== post && samePerson(s.operator, operator)) {
          this.end(s.post, 'moved');
          movedFrom = s.post;
        }
      }
    }
    const replaced = this.session(post)?.operator;
    if (replaced) this.end(post, 'replaced');
    const now = this.clock.now();
    this.sessions.set(post, { post, operator, since: now, lastActivity: now });
    this.changes.emit({ kind: 'in', post, operator });
    return { kind: 'badged-in', post, operator, ...(replaced ? { replaced } : {}), ...(movedFrom ? { movedFrom } : {}) };
  }

  /** End the session at a post; returns it, or undefined if none. */
  badgeOut(post: string): FillerSession | undefined {
    return this.end(post, 'badge-out');
  }

  /** The filler badged in at a post now (undefined if none or timed out). */
  filler(post: string): Operator | undefined {
    return this.session(post)?.operator;
  }

  session(post: string): FillerSession | undefined {
    this.expire();
    return this.sessions.get(post);
  }

  /** Activity at the post (a scan, a fill) keeps the session alive. */
  touch(post: string): void {
    const s = this.session(post);
    if (s) s.lastActivity = this.clock.now();
  }

  /** End sessions idle longer than the timeout; returns them. Called by every read, or on a timer. */
  expire(): FillerSession[] {
    const now = this.clock.now();
    const ended: FillerSession[] = [];
    for (const s of [...this.sessions.values()]) {
      if (now - s.lastActivity >= this.settings.badgeIdleTimeoutMs) {
        this.sessions.delete(s.post);
        ended.push(s);
        this.changes.emit({ kind: 'out', post: s.post, operator: s.operator, reason: 'timeout' });
      }
    }
    return ended;
  }

  /** All live sessions. */
  active(): FillerSession[] {
    this.expire();
    return [...this.sessions.values()];
  }

  /** End every session (shutdown, station lock by policy). */
  clear(): void {
    for (const post of [...this.sessions.keys()]) this.end(post, 'ended');
  }

  private end(post: string, reason: SessionEndReason): FillerSession | undefined {
    const s = this.sessions.get(post);
    if (!s) return undefined;
    this.sessions.delete(post);
    this.changes.emit({ kind: 'out', post, operator: s.operator, reason });
    return s;
  }
}
