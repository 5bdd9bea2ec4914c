/**
 * Cross-field rules of the `leakDetectors` and `cutoffValves` sections (leak-devices.ts), run
 * with the other station checks on the raw YAML data so every problem is reported at once with
 * its path: buses defined, ids unique among every leak device (MQTT ones included: the
 * interlock knows a detector by its id alone), presets and channels known, a cut-off coil that is
 * not also a fill valve's, and a poll period that cannot make a detector look silent.
 */
import { isFillgateError } from '../../protocols/errors.ts';
import { channelRegisters, leakDetectorMap, type LeakDetectorMap } from '../../devices/leak/presets.ts';
import type { ConfigIssue, IssuePath } from './checks.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const err = (path: IssuePath, message: string, hint?: string): ConfigIssue => ({ path, message, hint, severity: 'error' });

/** Default of leak.silentAfterMs (gateway/mqtt/config.ts). */
const DEFAULT_SILENT_AFTER_MS = 30_000;

export function checkLeakDevices(raw: Obj, out: ConfigIssue[], unitRef: (ref: Obj, path: IssuePath) => void): void {
  const ids = new Map<string, string>();
  const useId = (v: unknown, path: IssuePath) => {
    const id = str(v);
    if (id === undefined) return;
    const first = ids.get(id);
    if (first === undefined) ids.set(id, path.join('.'));
    else out.push(err(path, `leak device id ${id} is already used by ${first}`, 'the interlock knows each detector and cut-off valve by its id alone: give every one its own (MQTT devices under mqtt.broker.devices included)'));
  };
  const mqtt = isObj(raw.mqtt) && isObj(raw.mqtt.broker) ? list(raw.mqtt.broker.devices) : [];
  mqtt.forEach((d, i) => {
    if (isObj(d) && (d.kind === 'leak-detector' || d.kind === 'cutoff-valve')) useId(d.id, ['mqtt', 'broker', 'devices', i, 'id']);
  });
  const silentAfterMs = isObj(raw.leak) && typeof raw.leak.silentAfterMs === 'number' ? raw.leak.silentAfterMs : DEFAULT_SILENT_AFTER_MS;
  const controllers = new Map<string, string>();
  list(raw.leakDetectors).forEach((d, i) => {
    if (!isObj(d)) return;
    const at = (...rest: IssuePath): IssuePath => ['leakDetectors', i, ...rest];
    useId(d.id, at('id'));
    unitRef(d, at());
    if (typeof d.bus === 'string' && typeof d.unit === 'number') {
      const key = `${d.bus}/${d.unit}`;
      const first = controllers.get(key);
      if (first !== undefined) out.push(err(at('unit'), `unit ${d.unit} on bus ${d.bus} is already ${first}`, 'one controller is one entry: list all its sensors under its channels:'));
      else controllers.set(key, `leakDetectors.${i}`);
    }
    let map: LeakDetectorMap | undefined;
    try {
      map = leakDetectorMap(str(d.preset) ?? 'generic');
    } catch (e) {
      out.push(err(at('preset'), isFillgateError(e) ? e.message : String(e)));
    }
    const pollMs = typeof d.pollMs === 'number' ? d.pollMs : 1000;
    if (pollMs * 3 > silentAfterMs) {
      out.push(err(at('pollMs'), `polled every ${pollMs} ms but leak.silentAfterMs is ${silentAfterMs}`, `a detector must be read at least three times within leak.silentAfterMs, or one lost reply makes it silent and locks the station: pollMs ≤ ${Math.floor(silentAfterMs / 3)}`));
    }
    list(d.channels).forEach((c, j) => {
      if (!isObj(c)) return;
      useId(c.id, at('channels', j, 'id'));
      if (!map || typeof c.lelRegister === 'number') return;
      try {
        channelRegisters(map, typeof c.channel === 'number' ? c.channel : 1);
      } catch (e) {
        out.push(err(at('channels', j, 'channel'), isFillgateError(e) ? e.message : String(e)));
      }
    });
  });
  const valveCoils = new Map<string, string>();
  list(raw.posts).forEach((p, i) => {
    if (isObj(p) && isObj(p.valve)) valveCoils.set(`${p.valve.bus}/${p.valve.unit}/${p.valve.coil}`, `posts.${i}.valve (post ${str(p.id) ?? i + 1})`);
  });
  list(raw.cutoffValves).forEach((c, i) => {
    if (!isObj(c)) return;
    const at = (...rest: IssuePath): IssuePath => ['cutoffValves', i, ...rest];
    useId(c.id, at('id'));
    unitRef(c, at());
    const key = `${c.bus}/${c.unit}/${c.coil}`;
    const owner = valveCoils.get(key);
    if (owner !== undefined) out.push(err(at('coil'), `coil ${c.coil} of unit ${c.unit} on bus ${c.bus} is already ${owner}`, "a cut-off valve needs its own relay: energising a fill valve's coil opens it"));
    else valveCoils.set(key, `cutoffValves.${i}`);
  });
}
