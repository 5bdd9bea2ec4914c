/**
 * One filling post: a scale, an ID reader, a fill valve on a relay coil, and
 * whatever cylinder stands on the scale. The valve exists without a cylinder
 * (gas then goes nowhere, but feedback still reports it open), so it is
 * tracked by its own valve-only physics object; a placed cylinder receives the
 * same commands and fills while the valve really is open.
 */
import { CylinderOnScale, mulberry32 } from './physics.ts';
import type { CylinderSpec, PostSpec } from './station.ts';

export interface CylinderInHand {
  spec: CylinderSpec;
  /** Gas in it now (starts at the station file's residual, grows with each fill). */
  gasKg: number;
}

export type Button = 'start' | 'stop';

export class SimPost {
  private readonly valve: CylinderOnScale;
  private body: CylinderOnScale | undefined;
  private onScale: CylinderSpec | undefined;
  private readonly pressedUntil: Record<Button, number> = { start: -Infinity, stop: -Infinity };
  /** What the relay coil was last set to (true = ON = open); the valve's power also depends on the contact and the setpoint cut. */
  coil = false;
  /** Relay contact: follows the coil unless welded (fault "welded-relay"). */
  private contact = false;
  private welded = false;
  /** The scale's setpoint output is on and wired to cut the valve power (valve.cutBySetpoint). */
  private powerCut = false;

  /** The flow and closing time of the fill under way (drawn at each placement when spec.spread is set). */
  drawn: { flowKgPerMin: number; closeDelayMs: number };
  private readonly draw: (() => number) | undefined;
  /** A slow-valve fault's closing time, which wins over the drawn one while set. */
  private slowValveMs: number | undefined;

  constructor(readonly spec: PostSpec) {
    this.valve = this.physics(0, 0, 0);
    this.drawn = { flowKgPerMin: spec.flowKgPerMin, closeDelayMs: spec.valve.closeDelayMs };
    // A seed of its own per post (default from the post id), so each post's draws replay whatever the others do.
    if (spec.spread) this.draw = mulberry32(spec.spread.seed ?? [...spec.id].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) | 0, 7));
  }

  /** Uniform in base × (1 ± pct %). */
  private around(base: number, pct: number): number {
    return this.draw && pct > 0 ? base * (1 + ((this.draw() * 2 - 1) * pct) / 100) : base;
  }

  get cylinder(): CylinderSpec | undefined {
    return this.onScale;
  }

  /** True gross mass on the platform (0 when empty). */
  grossKg(tMs: number): number {
    return this.body ? this.body.grossKg(tMs) + this.bypassGas(tMs) : 0;
  }

  gasKg(tMs: number): number | undefined {
    return this.body ? this.body.gasKg(tMs) + this.bypassGas(tMs) : undefined;
  }

  /** A manual bypass around the fill valve (issue 10 point 5): gas flows into the cylinder whatever the valve does. */
  private bypass = { kgPerMin: 0, since: 0, kg: 0 };

  private bypassGas(tMs: number): number {
    const b = this.bypass;
    return b.kg + (b.kgPerMin * Math.max(0, tMs - b.since)) / 60_000;
  }

  /** Opens (kgPerMin > 0) or closes (0) the bypass. */
  setBypass(kgPerMin: number, tMs: number): void {
    this.bypass = { kgPerMin: Math.max(0, kgPerMin), since: tMs, kg: this.body ? this.bypassGas(tMs) : 0 };
  }

  get bypassKgPerMin(): number {
    return this.bypass.kgPerMin;
  }

  /** The valve's real state (gas flowing), as opposed to the coil. */
  valveOpenAt(tMs: number): boolean {
    return this.valve.valveOpenAt(tMs);
  }

  get valveCommandedOpen(): boolean {
    return this.valve.commandedOpen;
  }

  get stuckOpen(): boolean {
    return this.valve.stuckOpen;
  }

  get closeDelayMs(): number {
    return this.valve.closeDelayMs;
  }

  commandValve(open: boolean, tMs: number): void {
    this.coil = open;
    if (!this.welded) this.contact = open;
    this.applyPower(tMs);
  }

  /** Whether the valve solenoid has power: the relay contact, unless the setpoint output cuts it. */
  get energised(): boolean {
    return this.contact && !this.powerCut;
  }

  get setpointCut(): boolean {
    return this.powerCut;
  }

  /** The scale's setpoint output changed; it cuts the valve power only where the station wires it so. */
  setpointOutput(on: boolean, tMs: number): void {
    const cut = on && this.spec.valve.cutBySetpoint;
    if (cut === this.powerCut) return;
    this.powerCut = cut;
    this.applyPower(tMs);
  }

  /** Fault "welded-relay": the contact keeps its state; clearing it lets the contact follow the coil again. */
  setWelded(welded: boolean, tMs: number): void {
    this.welded = welded;
    if (!welded) {
      this.contact = this.coil;
      this.applyPower(tMs);
    }
  }

  private applyPower(tMs: number): void {
    const on = this.energised;
    this.valve.commandValve(on, tMs);
    this.body?.commandValve(on, tMs);
  }

  /** Fault "stuck-open": the valve ignores close commands; clearing it lets the valve follow the coil again. */
  setStuckOpen(stuck: boolean, tMs: number): void {
    for (const v of this.bodies()) v.stuckOpen = stuck;
    if (!stuck) this.applyPower(tMs);
  }

  /** Fault "slow-valve": a longer closing time (undefined restores the station file's). */
  setCloseDelay(ms: number | undefined): void {
    this.slowValveMs = ms;
    for (const v of this.bodies()) v.closeDelayMs = ms ?? this.drawn.closeDelayMs;
  }

  place(c: CylinderInHand, tMs: number): void {
    this.bypass = { ...this.bypass, since: tMs, kg: 0 };
    this.onScale = c.spec;
    const spread = this.spec.spread;
    if (spread) {
      this.drawn = {
        flowKgPerMin: this.around(this.spec.flowKgPerMin, spread.flowPct),
        closeDelayMs: this.around(this.spec.valve.closeDelayMs, spread.closeDelayPct),
      };
      if (this.slowValveMs === undefined) this.valve.closeDelayMs = this.drawn.closeDelayMs;
    }
    this.body = this.physics(c.spec.tareKg, c.gasKg, this.drawn.flowKgPerMin);
    this.body.stuckOpen = this.valve.stuckOpen;
    this.body.closeDelayMs = this.valve.closeDelayMs;
    // Under a valve that is already open, gas flows at once; one still opening starts with it.
    if (this.valve.valveOpenAt(tMs)) this.body.commandValve(true, tMs - this.body.openDelayMs);
    else if (this.valve.commandedOpen) this.body.commandValve(true, tMs);
  }

  remove(tMs: number): CylinderInHand | undefined {
    if (!this.onScale || !this.body) return undefined;
    const out = { spec: this.onScale, gasKg: this.gasKg(tMs)! };
    this.bypass = { ...this.bypass, since: tMs, kg: 0 };
    this.onScale = undefined;
    this.body = undefined;
    return out;
  }

  press(button: Button, tMs: number, holdMs: number): void {
    this.pressedUntil[button] = tMs + holdMs;
  }

  pressed(button: Button, tMs: number): boolean {
    return tMs < this.pressedUntil[button];
  }

  private bodies(): CylinderOnScale[] {
    return this.body ? [this.valve, this.body] : [this.valve];
  }

  private physics(tareKg: number, residualKg: number, flowKgPerMin: number): CylinderOnScale {
    const v = this.spec.valve;
    return new CylinderOnScale({
      tareKg,
      residualKg,
      flowKgPerMin,
      openDelayMs: v.openDelayMs,
      closeDelayMs: v.closeDelayMs,
    });
  }
}
