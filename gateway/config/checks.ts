/**
 * Rules that span fields (a post names a bus that must exist, two valves must
 * not share a coil, ...) and the hints that turn common mistakes into a fix.
 * They run on the raw YAML data, next to the schema and not after it, so one
 * `fillgate config check` reports every problem at once (engineering.md
 * example 10) instead of one layer of errors per run.
 */
import { isFillgateError } from '../../protocols/errors.ts';
import { parseLinkUrl, parseModbusUrl, type ModbusAddress } from '../../protocols/link/url.ts';
import { resolveScaleMap, scalePresets, type ScaleMapOverrides } from '../../devices/scale/presets/index.ts';
import { controllerDefaults } from '../controller/config.ts';
import { cylinderModels } from '../registry/models.ts';
import type { ScaleConfig } from './schema.ts';
import { checkLeakDevices } from './leak-checks.ts';

/**
 * Whether a post uses its scale's setpoint as the independent limit: `scale.setpointLimit`
 * when given, else on exactly where the preset (with overrides) has a setpoint map. Stream
 * scales have none. `available` says whether the map has one; `reason` is for `config check`.
 */
export function setpointLimitOf(s: ScaleConfig): { on: boolean; available: boolean; reason: string } {
  if (s.kind === 'stream') return { on: false, available: false, reason: 'stream scale: no setpoint over the wire' };
  let available = false;
  try {
    available = resolveScaleMap(s.preset, (s.overrides ?? {}) as ScaleMapOverrides).setpoint !== undefined;
  } catch {
    available = false;
  }
  const on = s.setpointLimit ?? available;
  const reason = !available
    ? `preset ${s.preset} has no setpoint map`
    : on
      ? `preset ${s.preset}: indicator setpoint programmed and read back before every open`
      : 'turned off (scale.setpointLimit: false)';
  return { on, available, reason };
}

export type Severity = 'error' | 'warning';
export type IssuePath = (string | number)[];

export interface ConfigIssue {
  path: IssuePath;
  message: string;
  hint?: string;
  severity: Severity;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The highest poll rate we accept; the cut-off reacts within one poll period (issue 2). */
export const MAX_POLL_HZ = 50;

interface Refs {
  buses: Map<string, ModbusAddress | undefined>;
  out: ConfigIssue[];
}

export function stationChecks(raw: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (!isObj(raw)) return out;
  const refs: Refs = { buses: checkBuses(raw.buses, out), out };
  const posts = Array.isArray(raw.posts) ? raw.posts : [];
  const ids = new Map<string, number>();
  const coils = new Map<string, string>();
  posts.forEach((p, i) => {
    if (!isObj(p)) return;
    const at = (...rest: IssuePath): IssuePath => ['posts', i, ...rest];
    const id = str(p.id) ?? `#${i + 1}`;
    if (str(p.id) !== undefined) {
      const first = ids.get(id);
      if (first !== undefined) {
        out.push(err(at('id'), `duplicate post id ${id} (also posts.${first})`, 'every post needs its own id: records and the regulator name the post (gun) by it'));
      } else ids.set(id, i);
    }
    checkScale(p.scale, at('scale'), refs);
    if (isObj(p.reader)) checkStreamUrl(p.reader.link, at('reader', 'link'), out);
    checkValve(p.valve, at('valve'), id, refs, coils);
    checkRelayWatchdog(raw, p, at('valve'), out);
    for (const name of ['startInput', 'stopInput'] as const) {
      if (isObj(p[name])) checkUnitRef(p[name] as Obj, at(name), refs);
    }
  });
  checkMedia(posts, out);
  if (raw.checkScale === undefined) {
    out.push(warn(['checkScale'], 'no check-weigh scale configured', 'domain.md 1 requires a separate re-weigh scale (专用的复称衡器) for every filled cylinder; without one the post re-weighs on its own scale'));
  } else {
    checkScale(raw.checkScale, ['checkScale'], refs);
    if (raw.checkReader === undefined) {
      out.push(warn(['checkScale'], 'no checkReader at the check-weigh scale: its reading goes to the post that has waited longest, not to the cylinder on it', 'add checkReader: { link: ... } (an RFID antenna or scanner at the check scale), so the re-weighed mass belongs to the cylinder whose code is read there (issue 10 point 3)'));
    }
  }
  if (raw.checkReader !== undefined && raw.checkScale === undefined) {
    out.push(err(['checkReader'], 'checkReader without a checkScale', 'the check reader identifies cylinders on the check-weigh scale: configure checkScale, or remove checkReader'));
  }
  if (isObj(raw.checkReader)) checkStreamUrl(raw.checkReader.link, ['checkReader', 'link'], out);
  checkScaleRoles(raw, posts, out);
  checkLeakDevices(raw, out, (ref, path) => checkUnitRef(ref, path, refs));
  checkBusLoad(raw, refs.buses, out);
  checkRecordKeeping(raw, out);
  return out;
}

/** Records are kept at least 2 years (DB4114/T 185-2023, domain.md 1). */
export const MIN_RETENTION_DAYS = 730;

/**
 * Upload discipline (issue 10 point 8; domain.md 1, seed 000: 充装数据上传不及时不准确的充装单位，
 * 一律不得充装) and record keeping: retention below 2 years is an error; the timeliness lock
 * turned off is a warning (the station keeps filling however late its uploads are).
 */
function checkRecordKeeping(raw: Obj, out: ConfigIssue[]): void {
  const days = isObj(raw.records) ? raw.records.retentionDays : undefined;
  if (typeof days === 'number' && days < MIN_RETENTION_DAYS) {
    out.push(err(['records', 'retentionDays'], `records kept ${days} days: less than the 2 years required`, `DB4114/T 185-2023 keeps filling records at least 2 years: set records.retentionDays to ${MIN_RETENTION_DAYS} or more (only records the platform acknowledged are ever pruned)`));
  }
  // No upload target (records kept locally: a bench or the demo, which adds one) is not warned about here.
  if (isObj(raw.upload) && isObj(raw.upload.timeliness) && raw.upload.timeliness.lockAgeMs === null) {
    out.push(warn(['upload', 'timeliness', 'lockAgeMs'], 'the upload timeliness lock is off: the station keeps filling however late its uploads are', 'seed 000: a unit whose uploads are late or inaccurate may not fill; remove lockAgeMs: null to get the 24 h default'));
  }
}

/** The physical device behind a scale or reader config: bus + unit, or the link without its options. */
function deviceKey(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  if (v.kind === 'modbus' && typeof v.bus === 'string' && typeof v.unit === 'number') return `modbus ${v.bus} unit ${v.unit}`;
  const link = str(v.link);
  return link ? `link ${link.split('?')[0]!.replace(/\/+$/, '').toLowerCase()}` : undefined;
}

/**
 * One physical scale in two roles is an error (issue 10 point 3): two posts' scales, or a post's
 * scale as the check scale, on the same bus + unit or the same link. Each post has its own scale
 * (domain.md 1, 每枪一秤), and the check-weigh scale is a separate one (专用的复称衡器). The same for readers.
 */
function checkScaleRoles(raw: Obj, posts: unknown[], out: ConfigIssue[]): void {
  const scales = new Map<string, string>();
  const readers = new Map<string, string>();
  const use = (seen: Map<string, string>, v: unknown, path: IssuePath, role: string, what: string) => {
    const key = deviceKey(v);
    if (!key) return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, role);
    else out.push(err(path, `${what} ${key} is already ${first}`, what === 'scale' ? 'one physical scale cannot serve two roles: every post has its own filling scale, and the check-weigh scale is a separate one (domain.md 1: 专用的复称衡器)' : 'one reader cannot identify cylinders at two places: give each post and the check scale its own reader'));
  };
  posts.forEach((p, i) => {
    if (!isObj(p)) return;
    const id = str(p.id) ?? `#${i + 1}`;
    use(scales, p.scale, ['posts', i, 'scale'], `post ${id}'s scale`, 'scale');
    use(readers, p.reader, ['posts', i, 'reader'], `post ${id}'s reader`, 'reader');
  });
  use(scales, raw.checkScale, ['checkScale'], 'the check-weigh scale', 'scale');
  use(readers, raw.checkReader, ['checkReader'], 'the check-scale reader', 'reader');
}

function err(path: IssuePath, message: string, hint?: string): ConfigIssue {
  return { path, message, hint, severity: 'error' };
}
function warn(path: IssuePath, message: string, hint?: string): ConfigIssue {
  return { path, message, hint, severity: 'warning' };
}

function checkBuses(buses: unknown, out: ConfigIssue[]): Map<string, ModbusAddress | undefined> {
  const found = new Map<string, ModbusAddress | undefined>();
  if (!isObj(buses)) return found;
  for (const [name, b] of Object.entries(buses)) {
    const url = isObj(b) ? str(b.url) : undefined;
    let address: ModbusAddress | undefined;
    // The schema reports a URL of the wrong kind; here only well-prefixed ones are parsed in full.
    if (url && /^modbus-(tcp|rtu|rtu-tcp):\/\//.test(url)) {
      try {
        address = parseModbusUrl(url);
      } catch (e) {
        out.push(err(['buses', name, 'url'], isFillgateError(e) ? e.message : String(e)));
      }
      if (address?.link.kind === 'serial' && !/[?&]baud(rate)?=/i.test(url)) out.push(baudWarning(['buses', name, 'url'], url));
    }
    found.set(name, address);
  }
  return found;
}

function baudWarning(path: IssuePath, url: string): ConfigIssue {
  return warn(path, `no baud rate in ${url}: 9600 8N1 is assumed`, 'write it out (…?baud=19200&parity=even) as it is set on the device: a wrong baud rate shows as CRC errors or garbage, not as a clear fault');
}

function checkStreamUrl(url: unknown, path: IssuePath, out: ConfigIssue[]): void {
  const u = str(url);
  if (!u || !/^(serial|tcp):\/\//.test(u)) return; // the schema reports it, with a hint
  try {
    const a = parseLinkUrl(u);
    if (a.kind === 'serial' && !/[?&]baud(rate)?=/i.test(u)) out.push(baudWarning(path, u));
  } catch (e) {
    out.push(err(path, isFillgateError(e) ? e.message : String(e)));
  }
}

function checkScale(scale: unknown, path: IssuePath, refs: Refs): void {
  if (!isObj(scale)) return;
  if (scale.kind === 'stream') {
    checkStreamUrl(scale.link, [...path, 'link'], refs.out);
    const checksum = isObj(scale.formatOptions) ? scale.formatOptions.checksum : undefined;
    if (scale.format === 'toledo' && checksum !== true) refs.out.push(toledoChecksumWarning([...path, 'formatOptions', 'checksum']));
    return;
  }
  if (scale.kind !== 'modbus') return;
  checkUnitRef(scale, path, refs);
  const preset = str(scale.preset) ?? 'generic';
  if (!(preset in scalePresets)) {
    refs.out.push(err([...path, 'preset'], `unknown scale preset "${preset}"`, `known presets: ${Object.keys(scalePresets).join(', ')}; or use generic with overrides:`));
    return;
  }
  let map;
  try {
    map = resolveScaleMap(preset, (isObj(scale.overrides) ? scale.overrides : {}) as ScaleMapOverrides);
  } catch (e) {
    refs.out.push(err([...path, 'overrides'], isFillgateError(e) ? e.message : String(e)));
  }
  if (path[0] === 'checkScale' && scale.setpointLimit !== undefined) {
    refs.out.push(warn([...path, 'setpointLimit'], 'setpointLimit has no effect on the check-weigh scale', 'the setpoint limit guards a filling post: set it under posts[].scale'));
  } else if (scale.setpointLimit === true && map && !map.setpoint) {
    refs.out.push(
      err([...path, 'setpointLimit'], `setpointLimit is on but preset "${preset}" has no setpoint map`, 'only presets whose manual documents a setpoint register have one (README: scale presets); add overrides: { setpoint: { address, type } } from the manual, or remove setpointLimit'),
    );
  }
}

/**
 * Toledo continuous output without its checksum byte (issue 12 point 11): one flipped bit moves
 * the decimal point, flips the sign or clears the motion or overload flag, and only the
 * plausibility filter stands between that frame and the cut-off.
 */
export function toledoChecksumWarning(path: IssuePath): ConfigIssue {
  return warn(
    path,
    'Toledo continuous output without its checksum: a flipped bit can change the weight, its sign, the decimal point or the motion/overload flag unnoticed',
    'turn the checksum on in the indicator (18-byte frames; WILDCAT/IND: "checksum" in the continuous output setup) and set formatOptions: { checksum: true }',
  );
}

/** A `{ bus, unit }` reference: the bus must exist and the unit id fit its framing. */
function checkUnitRef(ref: Obj, path: IssuePath, refs: Refs): void {
  const bus = str(ref.bus);
  if (bus === undefined) return;
  if (!refs.buses.has(bus)) {
    const defined = [...refs.buses.keys()];
    refs.out.push(err([...path, 'bus'], `bus "${bus}" is not defined under buses:`, defined.length ? `defined buses: ${defined.join(', ')}` : 'add it under buses:, e.g. buses: { rs485: { url: "modbus-rtu:///dev/ttyUSB0?baud=9600" } }'));
    return;
  }
  const address = refs.buses.get(bus);
  const unit = ref.unit;
  if (address?.framing === 'rtu' && typeof unit === 'number' && Number.isInteger(unit) && (unit < 1 || unit > 247)) {
    // Modbus over Serial Line v1.02, 2.2: 0 is broadcast (never answered), 248-255 are reserved.
    refs.out.push(err([...path, 'unit'], `unit ${unit} cannot be used on the RTU bus "${bus}"`, 'RTU unit ids are 1..247: 0 is broadcast (no reply) and 248-255 are reserved; read the id off the device menu'));
  }
}

function checkValve(valve: unknown, path: IssuePath, post: string, refs: Refs, coils: Map<string, string>): void {
  if (!isObj(valve)) return;
  checkUnitRef(valve, path, refs);
  if (str(valve.bus) === undefined || typeof valve.unit !== 'number' || typeof valve.coil !== 'number') return;
  const key = `${valve.bus}/${valve.unit}/${valve.coil}`;
  const owner = coils.get(key);
  if (owner !== undefined) {
    refs.out.push(err([...path, 'coil'], `coil ${valve.coil} of unit ${valve.unit} on bus ${valve.bus} is already post ${owner}'s valve`, 'each post needs its own relay: one coil opening two valves fills a cylinder nobody scanned'));
  } else coils.set(key, post);
}

/** Default in-flight flow for the watchdog check when the config gives none (domain.md 4: 10-30 kg/min). */
const DEFAULT_MAX_FLOW_KG_PER_MIN = 30;

export interface WatchdogFit {
  /** The relay module's watchdog time (valve.relayWatchdogMs), if given. */
  watchdogMs?: number;
  maxFlowKgPerMin: number;
  /** Gas that flows while the module waits out its watchdog after the gateway died (kg). */
  inFlightKg?: number;
  /** The smallest cylinder model and its margin between target and allowed mass. */
  model: string;
  targetKg: number;
  allowedKg: number;
  marginKg: number;
  /** Longest watchdog time whose in-flight mass stays within the margin (ms). */
  fitsMs: number;
  ok?: boolean;
}

/**
 * Sizing the relay's own watchdog from the physics (issue 13 point 3): when the gateway dies
 * with the valve open, the module keeps it open for its watchdog time, at up to the post's
 * maximum flow. That mass must fit between the target and the allowed fill mass of the smallest
 * cylinder model the post may fill (gateway/registry/models.ts; the target is allowed −
 * targetBelowMaxKg, gateway/controller/config.ts). The gateway can die just before its cut-off.
 */
export function watchdogFit(valve: { relayWatchdogMs?: number }, maxFlowKgPerMin = DEFAULT_MAX_FLOW_KG_PER_MIN): WatchdogFit {
  const [model, info] = Object.entries(cylinderModels).reduce((a, b) => (b[1].maxFillKg < a[1].maxFillKg ? b : a));
  const allowedKg = info.maxFillKg;
  const targetKg = allowedKg - controllerDefaults.targetBelowMaxKg;
  const marginKg = allowedKg - targetKg;
  const kgPerMs = maxFlowKgPerMin / 60_000;
  const fitsMs = Math.floor(marginKg / kgPerMs + 1e-9);
  const watchdogMs = valve.relayWatchdogMs;
  if (watchdogMs === undefined) return { maxFlowKgPerMin, model, targetKg, allowedKg, marginKg, fitsMs };
  const inFlightKg = watchdogMs * kgPerMs;
  return { watchdogMs, maxFlowKgPerMin, inFlightKg, model, targetKg, allowedKg, marginKg, fitsMs, ok: watchdogMs <= fitsMs };
}

/** One line for `config check`: what the relay watchdog lets through if the gateway dies. */
export function describeWatchdogFit(f: WatchdogFit): string {
  const margin = `${f.model}: target ${f.targetKg.toFixed(2)} kg, allowed ${f.allowedKg.toFixed(2)} kg`;
  if (f.watchdogMs === undefined) return `relay watchdog time not given (valve.relayWatchdogMs); at ${f.maxFlowKgPerMin} kg/min a watchdog of ≤ ${f.fitsMs} ms fits the ${f.marginKg.toFixed(2)} kg margin of ${margin}`;
  return `relay watchdog ${f.watchdogMs} ms × ${f.maxFlowKgPerMin} kg/min = ${f.inFlightKg!.toFixed(2)} kg more if the gateway dies; margin ${f.marginKg.toFixed(2)} kg (${margin}): ${f.ok ? 'fits' : `too long, ≤ ${f.fitsMs} ms would fit`}`;
}

function numberAt(o: unknown, key: string): number | undefined {
  return isObj(o) && typeof o[key] === 'number' ? (o[key] as number) : undefined;
}

function checkRelayWatchdog(raw: Obj, post: Obj, path: IssuePath, out: ConfigIssue[]): void {
  const valve = post.valve;
  const watchdogMs = numberAt(valve, 'relayWatchdogMs');
  if (!isObj(valve) || watchdogMs === undefined || !(watchdogMs > 0)) return;
  const flow = numberAt(post.fill, 'maxFlowKgPerMin') ?? numberAt(raw.fill, 'maxFlowKgPerMin') ?? DEFAULT_MAX_FLOW_KG_PER_MIN;
  if (!(flow > 0)) return; // the schema reports it
  const f = watchdogFit({ relayWatchdogMs: watchdogMs }, flow);
  if (!f.ok) {
    out.push(
      warn(
        [...path, 'relayWatchdogMs'],
        `relay watchdog ${watchdogMs} ms at up to ${flow} kg/min lets ${f.inFlightKg!.toFixed(2)} kg more into a cylinder if the gateway dies mid-fill; the smallest model (${f.model}) has ${f.marginKg.toFixed(2)} kg between target (${f.targetKg.toFixed(2)} kg) and allowed mass (${f.allowedKg.toFixed(2)} kg)`,
        `configure the module's watchdog to ≤ ${f.fitsMs} ms (and keepAliveMs to a third of it), lower fill.maxFlowKgPerMin if the pump cannot deliver ${flow} kg/min, or wire the scale's setpoint output in series with the valve (README: setpoint limit) and keep a hardware overfill interlock`,
      ),
    );
  }
  const keepAliveMs = numberAt(valve, 'keepAliveMs');
  if (keepAliveMs !== undefined && keepAliveMs > watchdogMs / 3) {
    out.push(warn([...path, 'keepAliveMs'], `keepAliveMs ${keepAliveMs} is more than a third of the relay watchdog (${watchdogMs} ms)`, `a late keep-alive lets the watchdog drop the valve mid-fill: set keepAliveMs ≤ ${Math.floor(watchdogMs / 3)}`));
  }
}

/**
 * 同一充装地址不得同时充装液化石油气和二甲醚 (domain.md 1, seed 002): one filling
 * address never fills both LPG and DME. One gateway config is one station (one
 * address), so a mix is an error, not a warning: run the DME site as its own station.
 */
function checkMedia(posts: unknown[], out: ConfigIssue[]): void {
  let first: { medium: string; id: string } | undefined;
  posts.forEach((p, i) => {
    if (!isObj(p) || (p.medium !== 'LPG' && p.medium !== 'DME')) return;
    const id = str(p.id) ?? `#${i + 1}`;
    if (!first) first = { medium: p.medium, id };
    else if (p.medium !== first.medium) {
      out.push(err(['posts', i, 'medium'], `post ${id} fills ${p.medium} but post ${first.id} fills ${first.medium}`, 'one filling address never fills both LPG and DME (domain.md 1, 同一充装地址不得同时充装液化石油气和二甲醚): configure the other medium as a separate station'));
    }
  });
}

/**
 * Rough load of each RTU line: every poll is a request and a reply of about 29
 * bytes at 11 bits a character, plus the gap. Over the line's capacity the
 * polls queue and samples go stale, which trips fills: warn before that.
 */
function checkBusLoad(raw: Obj, buses: Map<string, ModbusAddress | undefined>, out: ConfigIssue[]): void {
  const rate = new Map<string, number>();
  const add = (ref: unknown, hz: number) => {
    if (isObj(ref) && typeof ref.bus === 'string') rate.set(ref.bus, (rate.get(ref.bus) ?? 0) + hz);
  };
  const scales = [...(Array.isArray(raw.posts) ? raw.posts : []).map((p) => (isObj(p) ? p.scale : undefined)), raw.checkScale];
  for (const s of scales) if (isObj(s) && s.kind === 'modbus') add(s, typeof s.pollHz === 'number' ? s.pollHz : 10);
  for (const p of Array.isArray(raw.posts) ? raw.posts : []) {
    if (!isObj(p)) continue;
    for (const inp of [p.startInput, p.stopInput]) if (isObj(inp)) add(inp, typeof inp.pollHz === 'number' ? inp.pollHz : 10);
    if (isObj(p.valve) && typeof p.valve.keepAliveMs === 'number') add(p.valve, 1000 / p.valve.keepAliveMs);
  }
  // Leak devices: a detector reads %LEL (and status) per channel each poll; a cut-off valve reads its feedback.
  for (const d of Array.isArray(raw.leakDetectors) ? raw.leakDetectors : []) {
    if (isObj(d)) add(d, (1000 / (typeof d.pollMs === 'number' ? d.pollMs : 1000)) * (Array.isArray(d.channels) ? d.channels.length : 1) * (d.noStatus === true ? 1 : 2));
  }
  for (const c of Array.isArray(raw.cutoffValves) ? raw.cutoffValves : []) if (isObj(c)) add(c, 1000 / (typeof c.pollMs === 'number' ? c.pollMs : 500));
  for (const [bus, hz] of rate) {
    const a = buses.get(bus);
    if (!a || a.link.kind !== 'serial') continue;
    const exchangeMs = (29 * 11 * 1000) / a.link.baudRate + Math.max(5, (3.5 * 11 * 1000) / a.link.baudRate);
    const capacity = Math.floor(1000 / exchangeMs);
    if (hz > capacity) {
      out.push(warn(['buses', bus], `the polls configured on bus ${bus} need about ${Math.round(hz)} exchanges/s; an RTU line at ${a.link.baudRate} baud carries about ${capacity}`, 'lower pollHz of inputs first, raise the baud rate on every device of the line, or split the posts over two lines'));
    }
  }
}
