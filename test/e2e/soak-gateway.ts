/**
 * The gateway under soak, in this process: a real Station whose valve
 * decisions (PostEvent 'valve') and coil writes as sent (the bus frame tap)
 * are stamped with performance.now(), the clock of the simulator's wire log
 * in the same process. Restart = stop (a close decision for every post) and a
 * new Station on the same data dir.
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../../gateway/config/config.ts';
import { silentLogs, createLogFactory, type LogFactory } from '../../gateway/log.ts';
import { Station } from '../../gateway/runtime/station.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import type { CoilWriteAt, Decision } from './soak-check.ts';

export interface GatewayTrace {
  decisions: Decision[];
  /** Open decisions so far (a running fill count). */
  opens: number;
  tx: CoilWriteAt[];
  linkDown: { from: number; to: number }[];
  /** Spans in which the gateway ran as a child process: its decisions are not known (soak-child.ts). */
  wireOnly: { from: number; to: number }[];
  records: FillAttempt[];
}

/** Coil writes (FC05/FC15) to `unitId` in a request frame as the gateway sent it. */
export function decodeCoilWrites(frame: Buffer, framing: 'mbap' | 'rtu', unitId: number): { coil: number; on: boolean }[] {
  const at = framing === 'mbap' ? 6 : 0;
  if (frame.length < at + 6 || frame[at] !== unitId) return [];
  const fc = frame[at + 1];
  const addr = frame.readUInt16BE(at + 2);
  if (fc === 5) return [{ coil: addr, on: frame.readUInt16BE(at + 4) === 0xff00 }];
  if (fc === 15 && frame.length >= at + 7) {
    const n = frame.readUInt16BE(at + 4);
    const out: { coil: number; on: boolean }[] = [];
    for (let i = 0; i < n && at + 7 + (i >> 3) < frame.length; i++) out.push({ coil: addr + i, on: ((frame[at + 7 + (i >> 3)]! >> (i & 7)) & 1) === 1 });
    return out;
  }
  return [];
}

/** Logs for the Station: silent (or SOAK_LOG=level), except that the bus's frame tap feeds `onTx`. */
function tappedLogs(bus: string, onTx: (frame: Buffer) => void): LogFactory {
  const base = process.env.SOAK_LOG ? createLogFactory({ level: process.env.SOAK_LOG as 'info' }) : silentLogs;
  const tap = {
    isLevelEnabled: () => true,
    trace: (o: { dir: string; hex: string }) => o.dir === 'tx' && onTx(Buffer.from(o.hex, 'hex')),
  } as unknown as Logger;
  const f = ((ns: string) => (ns === `link.${bus}` ? tap : base(ns))) as LogFactory;
  f.root = base.root;
  return f;
}

export class InProcessGateway {
  station: Station | undefined;
  private downSince: number | undefined;

  constructor(
    private readonly config: GatewayConfig,
    private readonly trace: GatewayTrace,
    private readonly relay: { bus: string; unitId: number; framing: 'mbap' | 'rtu' },
  ) {}

  phase(post: string): string {
    return this.station?.posts.get(post)?.snapshot.phase.kind ?? 'none';
  }

  grossKg(post: string): number | undefined {
    return this.station?.posts.get(post)?.snapshot.ctx.last?.grossKg;
  }

  async start(onFirstStart?: (s: Station) => void): Promise<void> {
    const { relay, trace } = this;
    const logs = tappedLogs(relay.bus, (frame) => {
      const t = performance.now();
      for (const w of decodeCoilWrites(frame, relay.framing, relay.unitId)) trace.tx.push({ ...w, t });
    });
    const s = new Station(this.config, { logs });
    this.downSince ??= performance.now();
    await s.start();
    onFirstStart?.(s);
    const bus = s.devices.buses.get(relay.bus)!;
    this.linkState(bus.state === 'open');
    bus.stateChange.on(({ state }) => this.linkState(state === 'open'));
    s.events.on((e) => {
      if (e.kind === 'record') trace.records.push(e.attempt);
      // A station being stopped may still react to late callbacks (a store write failing once it is closed
      // locks it, and its posts close their already stopped valves): the stop decision stands for those.
      if (e.kind !== 'valve' || this.station !== s) return;
      trace.decisions.push({ post: e.post, t: performance.now(), kind: e.command, reason: e.reason });
      if (e.command === 'open') trace.opens++;
    });
    this.station = s;
  }

  /** A plain stop: every valve is closed by the gateway on its way out (a close decision for each post). */
  async stop(): Promise<void> {
    const s = this.station;
    if (!s) return;
    this.station = undefined;
    const t = performance.now();
    for (const post of s.posts.keys()) this.trace.decisions.push({ post, t, kind: 'close', reason: 'gateway stop' });
    await s.stop();
    this.linkState(false);
  }

  private linkState(open: boolean): void {
    const now = performance.now();
    if (!open && this.downSince === undefined) this.downSince = now;
    if (open && this.downSince !== undefined) {
      this.trace.linkDown.push({ from: this.downSince, to: now });
      this.downSince = undefined;
    }
  }
}
