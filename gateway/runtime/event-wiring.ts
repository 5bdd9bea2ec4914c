/**
 * Feeds the signed station event log (gateway/records/events.ts; issue 10 point 6) from the
 * running station: every latch history line (leak lock and its reset, post trips and their
 * resets, store and upload locks, the remote lock, refused resets), alarms raised and
 * cleared, registry changes (quarantine, release, scrap, decant, import summaries), the start
 * with its config hash (config.changed when it differs from the last start) and PC clock
 * jumps (checked every second). Returns a function that undoes it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../protocols/errors.ts';
import type { EventInput } from '../records/event.ts';
import type { EventLog } from '../records/events.ts';
import type { Registry } from '../registry/registry.ts';
import type { LeakService } from '../leak/service.ts';
import type { AngleValveMonitor } from '../leak/angle-valve.ts';
import type { Logger } from '../log.ts';
import type { LatchStore } from './latches.ts';

/** Registry event kinds not worth a signed event: one per imported row (the import summary is one). */
const ROW_CHANGES = /\.(created|updated)$/;

export function latchEvent(l: { latch: string; action: string; reason?: string; detail?: string; by: string }): EventInput {
  return { kind: `latch.${l.action}`, subject: l.latch, by: l.by, reason: l.reason, detail: l.detail, ...(l.latch.startsWith('post:') ? { post: l.latch.slice(5) } : {}) };
}

export function registryEvent(e: { kind: string; subject: string; reason: string | null; source: string | null; data: Record<string, unknown> | null }): EventInput | undefined {
  if (ROW_CHANGES.test(e.kind)) return undefined;
  return { kind: `registry.${e.kind}`.toLowerCase().replace(/[^a-z0-9_.]/g, '_'), subject: e.subject, by: e.source ?? undefined, detail: e.reason ?? undefined, data: e.data ?? undefined };
}

/** SHA-256 of the config file's bytes, or of the parsed config (keys sorted) when no file is known. */
export function configHash(configFile: string | undefined, config: unknown): { hash: string; of: 'file' | 'parsed' } {
  if (configFile) {
    try {
      return { hash: createHash('sha256').update(readFileSync(configFile)).digest('hex'), of: 'file' };
    } catch {
      // fall through: the parsed config still says whether the settings changed
    }
  }
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
  return { hash: createHash('sha256').update(JSON.stringify(sorted(config))).digest('hex'), of: 'parsed' };
}

export interface StationEventSources {
  log: EventLog;
  record(e: EventInput): void;
  latches: LatchStore;
  registry: Registry;
  leak?: LeakService;
  valves?: AngleValveMonitor;
  logger: Logger;
}

export interface AttachedEvents {
  /** Writes what is queued now (tests; the detach function does it too). */
  flush(): void;
  /** Writes what is queued, then stops listening. */
  (): void;
}

/**
 * The sources fire on the safety path (a leak alarm, the leak latch) before the posts are told
 * to close: their events are queued and written on the next turn of the event loop, in order,
 * so no event-log fsync ever delays a valve close.
 */
export function attachStationEvents(src: StationEventSources): AttachedEvents {
  const queue: EventInput[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    for (const e of queue.splice(0)) src.record(e);
  };
  const s = {
    ...src,
    record: (e: EventInput) => {
      queue.push(e);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
  const offs: (() => void)[] = [];
  offs.push(s.latches.noted.on((l) => s.record(latchEvent(l))));
  offs.push(
    s.registry.changed.on((e) => {
      const ev = registryEvent(e);
      if (ev) s.record(ev);
    }),
  );
  if (s.leak) {
    offs.push(
      s.leak.alarms.on((a) =>
        s.record({
          kind: a.active ? 'alarm.raised' : 'alarm.cleared',
          subject: a.device ?? a.kind,
          reason: a.kind.toUpperCase(),
          detail: a.detail,
          ...(a.location ? { post: a.location } : {}),
          data: { alarmId: a.id, alarmKind: a.kind, level: a.level, device: a.device, location: a.location, at: a.at },
        }),
      ),
    );
  }
  if (s.valves) {
    offs.push(s.valves.reports.on((r) => s.record({ kind: 'alarm.raised', subject: r.valve, reason: String(r.kind).toUpperCase(), detail: r.detail, data: { alarmKind: r.kind, cylinderCode: r.cylinderCode, at: r.at } })));
  }
  const timer = setInterval(() => {
    try {
      s.log.checkClock();
    } catch (err) {
      s.logger.error({ err: errorMessage(err) }, 'clock jump check failed');
    }
  }, 1000);
  timer.unref();
  offs.push(() => clearInterval(timer));
  const detach = (() => {
    flush();
    offs.forEach((off) => off());
  }) as AttachedEvents;
  detach.flush = flush;
  return detach;
}

/** At start: `station.started`, and `config.changed` when the config differs from the last start's. */
export function recordStart(log: EventLog, record: (e: EventInput) => void, cfg: { file?: string; config: unknown }): void {
  const { hash, of } = configHash(cfg.file, cfg.config);
  const previous = log.swapConfigHash(hash);
  log.checkClock(); // a clock set back while the gateway was down
  record({ kind: 'station.started', data: { configHash: hash, configHashOf: of, boot: log.boot } });
  if (previous !== undefined && previous !== hash) {
    record({ kind: 'config.changed', reason: 'CONFIG_CHANGED', detail: `the config ${of === 'file' ? 'file' : ''} differs from the last start`.replace('  ', ' '), data: { previousHash: previous, hash, of } });
  }
}
