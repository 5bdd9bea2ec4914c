/**
 * Test support for the post controller: a driver that feeds inputs in virtual
 * time, follows the valve from the commands (and a simple cylinder physics),
 * and builders that reach each phase through real transitions.
 */
import { controllerConfig, initialState, transition } from '../../gateway/controller/index.ts';
import type { Command, ControllerConfig, CylinderFacts, OperatorFacts, PostInput, PostState, Step } from '../../gateway/controller/index.ts';
import type { CheckItem } from '../../gateway/records/types.ts';
import { CylinderOnScale } from '../../sim/physics.ts';

export const identity = { station: 'ST01', unit: 'U01', post: 'P1', medium: 'LPG' as const };
export const makeConfig = (fill: Partial<ControllerConfig> = {}) => controllerConfig(identity, fill);

export const cylinder: CylinderFacts = {
  code: 'C1',
  valveCode: 'V1',
  model: 'YSP35.5',
  tareKg: 16.5,
  allowedFillKg: 14.9,
  medium: 'LPG',
  residualKg: 1,
  fillCount: 7,
  nextInspectionDue: '2028-05-01',
};
export const filler: OperatorFacts = { person: { badge: 'B-FILL', name: 'Li', certificate: 'P-1' }, roles: ['filler', 'checker'], certificateValid: true };
export const checker: OperatorFacts = { person: { badge: 'B-CHECK', name: 'Wang', certificate: 'P-2' }, roles: ['checker'], certificateValid: true };

export const cylinderCode = (code: string, at = 0, attemptId?: string): PostInput => ({
  kind: 'code',
  read: { device: 'P1.reader', raw: code, code, kind: 'cylinder', at },
  ...(attemptId ? { attemptId } : {}),
});
export const badge = (op: OperatorFacts | undefined, code = op?.person.badge ?? 'B-X', exceptions?: CheckItem[]): PostInput => ({
  kind: 'code',
  read: { device: 'P1.reader', raw: code, code, kind: 'badge', at: 0 },
  ...(op ? { operator: op } : {}),
  ...(exceptions ? { exceptions } : {}),
});
export const sampleOf = (grossKg: number, at: number, stable = true, overload = false): PostInput => ({
  kind: 'sample',
  sample: { device: 'P1.scale', grossKg, stable, overload, at },
});
export const checkweigh = (grossKg: number, at: number, stable = true): PostInput => ({
  kind: 'checkweigh',
  sample: { device: 'check.scale', grossKg, stable, overload: false, at },
});

/**
 * What a post knows after some fills with the builders' valve (30 kg/min, 100 ms closing): its
 * timing and the YSP35.5's in-flight. Tests of a first fill start from `fresh(cfg)` instead.
 */
export const LEARNED = {
  timing: { closeMs: 100, spreadMs: 3, openMs: 50, fills: 5 },
  preacts: { 'YSP35.5': { preactKg: 0.05, flowKgPerS: 0.5, fills: 5 } },
};
export const fresh = (cfg: ControllerConfig) => initialState(cfg, { wall: Date.UTC(2026, 0, 1), now: 0 });

/** Feeds inputs; `t` is the virtual monotonic clock; the valve follows open/close commands. */
export class Driver {
  state: PostState;
  t = 0;
  all: Command[] = [];
  last: Step;
  valveOpen = false;
  physics?: CylinderOnScale;

  /** `state` default: a post that has learned its valve and the YSP35.5 (LEARNED); `fresh()` for a first fill. */
  constructor(public cfg: ControllerConfig = makeConfig(), state?: PostState) {
    this.state = state ?? initialState(cfg, { wall: Date.UTC(2026, 0, 1), now: 0, ...LEARNED });
    this.last = { state: this.state, commands: [] };
  }

  get phase() {
    return this.state.phase.kind;
  }

  feed(input: PostInput): Step {
    const step = transition(this.state, input, this.t);
    this.state = step.state;
    this.last = step;
    this.all.push(...step.commands);
    for (const c of step.commands) {
      if (c.kind === 'openValve') this.valveOpen = true;
      if (c.kind === 'closeValve') this.valveOpen = false;
      if (this.physics && (c.kind === 'openValve' || c.kind === 'closeValve')) this.physics.commandValve(c.kind === 'openValve', this.t);
    }
    return step;
  }

  /** Samples every pollMs for `ms`, ticking at wakeAt in between when it falls earlier. */
  run(ms: number, gross: (t: number) => number = (t) => this.physics?.grossKg(t) ?? 0, until?: () => boolean): void {
    const end = this.t + ms;
    const poll = 1000 / this.cfg.pollHz;
    let nextSample = this.t + poll;
    while (this.t < end && !(until && until())) {
      const wake = this.last.wakeAt;
      if (wake !== undefined && wake > this.t && wake < nextSample) {
        this.t = wake;
        this.feed({ kind: 'tick' });
        continue;
      }
      this.t = nextSample;
      nextSample += poll;
      const g = gross(this.t);
      const moving = this.physics ? this.physics.valveOpenAt(this.t) || this.physics.valveOpenAt(this.t - 300) : false;
      this.feed(sampleOf(Math.round(g * 50) / 50, this.t, !moving));
      if (this.last.wakeAt !== undefined && this.last.wakeAt <= this.t) this.feed({ kind: 'tick' });
    }
  }

  kinds(step: Step = this.last): string[] {
    return step.commands.map((c) => c.kind);
  }

  records() {
    return this.all.flatMap((c) => (c.kind === 'record' ? [c.attempt] : []));
  }
}

/** Builders: each reaches its phase through real transitions. */
export function toIdentified(cfg = makeConfig(), learned = true): Driver {
  const d = new Driver(cfg, learned ? undefined : fresh(cfg));
  d.physics = new CylinderOnScale({ tareKg: 16.5, residualKg: 1, flowKgPerMin: 30, openDelayMs: 50, closeDelayMs: 100 });
  d.run(400);
  d.feed(cylinderCode('C1', d.t, 'A1'));
  return d;
}
export function toVerified(cfg = makeConfig(), learned = true): Driver {
  const d = toIdentified(cfg, learned);
  d.feed({ kind: 'verified', attemptId: 'A1', cylinder });
  return d;
}
export function toReady(cfg = makeConfig(), learned = true): Driver {
  const d = toVerified(cfg, learned);
  d.feed(badge(filler));
  return d;
}
export function toFilling(cfg = makeConfig(), learned = true): Driver {
  const d = toReady(cfg, learned);
  d.feed({ kind: 'start' });
  d.run(1000);
  return d;
}
export function toCutOff(cfg = makeConfig(), learned = true): Driver {
  const d = toFilling(cfg, learned);
  d.run(60_000, undefined, () => d.phase === 'cutOff');
  return d;
}
export function toSettling(cfg = makeConfig(), learned = true): Driver {
  const d = toCutOff(cfg, learned);
  d.t = d.last.wakeAt ?? d.t;
  d.feed({ kind: 'tick' });
  return d;
}
export function toChecked(cfg = makeConfig()): Driver {
  const d = toSettling(cfg);
  d.run(5000, undefined, () => d.phase === 'checked');
  return d;
}
export function toReweighed(cfg = makeConfig()): Driver {
  const d = toChecked(cfg);
  d.feed(badge(checker));
  return d;
}
export function toClosedOut(cfg = makeConfig()): Driver {
  const d = toReweighed(cfg);
  d.t += 100;
  d.feed(sampleOf(0, d.t));
  return d;
}
export function toFault(cfg = makeConfig()): Driver {
  const d = toFilling(cfg);
  d.feed({ kind: 'valveFault', detail: 'no feedback' });
  return d;
}
export function toAborted(cfg = makeConfig()): Driver {
  const d = toReady(cfg);
  d.feed({ kind: 'stop' });
  return d;
}
/** A first fill: cut off conservatively, so the settle starts a top-up pulse. */
export function toToppingUp(): Driver {
  const d = toSettling(makeConfig(), false);
  d.run(5000, undefined, () => d.phase === 'toppingUp');
  return d;
}
