/**
 * Remote commands at the running station (issue 10 point 9): what arrives on the upstream
 * `fillgate/<st>/gateway/cmd` goes to the RemoteHandler (gateway/remote/handler.ts), which
 * checks signature, key, time window and replay, runs it against the station (lock/unlock
 * through the `remote` latch, quarantine/release through the registry, status) and records
 * it in the signed event log; the envelope reply goes upstream on `fillgate/<st>/gateway/reply`
 * through the relay's outbox (written first, sent QoS 1).
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamRelay } from '../mqtt/relay.ts';
import type { EventInput } from '../records/event.ts';
import { loadTrustedKeys, type RemoteConfig } from '../remote/command.ts';
import { RemoteHandler, type CommandReply, type RemoteActions } from '../remote/handler.ts';
import type { Station } from './station.ts';

/** What remote commands act on: the station, seen through this much of it (station.ts builds it). */
export interface RemoteTarget {
  code: string;
  clock: Clock;
  /** The signed event log; never throws. */
  recordEvent(e: EventInput): unknown;
  actions: RemoteActions;
  /** Where commands arrive and replies go (mqtt.upstream); none: nothing can arrive. */
  relay?: UpstreamRelay;
}

export interface RemoteCommandsRuntime {
  handler: RemoteHandler;
  /** Handle one payload as if it arrived on gateway/cmd (tests, a local CLI); the reply is also published. */
  handle(payload: Buffer | string): CommandReply;
  stop(): void;
}

/** What a signed remote command may do at this station: lock, unlock, quarantine, release, status. */
export function remoteTarget(st: Station): RemoteTarget {
  const code = st.config.station.code;
  return {
    code,
    clock: st.clock,
    recordEvent: (e) => st.recordEvent(e),
    ...(st.mqtt?.relay ? { relay: st.mqtt.relay } : {}),
    actions: {
      lock: (by, reason) => ({ locked: true, changed: st.remoteLock(true, by, reason).changed }),
      unlock: (by, reason) => ({ locked: false, changed: st.remoteLock(false, by, reason).changed }),
      quarantine: (c, reason, by) => ({ code: c, status: st.registry.quarantine(c, reason, by).status }),
      release: (c, reason, by) => ({ code: c, status: st.registry.release(c, reason, by).status }),
      status: () => ({
        station: code,
        at: new Date(st.clock.wall()).toISOString(),
        locks: st.lockState.map((l) => ({ lock: l.lock, ...(l.detail ? { detail: l.detail } : {}) })),
        latches: st.latches.active().map((l) => ({ latch: l.latch, reason: l.reason, since: l.since })),
        posts: Object.fromEntries([...st.posts].map(([id, rt]) => [id, rt.snapshot.phase.kind])),
        records: st.store.counts(),
        events: st.eventLog.counts(),
      }),
    },
  };
}

export function replyTopic(station: string): string {
  return `fillgate/${station}/gateway/reply`;
}

export function startRemoteCommands(station: RemoteTarget, cfg: RemoteConfig, db: Database.Database, log: Logger): RemoteCommandsRuntime {
  const code = station.code;
  const handler = new RemoteHandler({
    db,
    clock: station.clock,
    station: code,
    keys: loadTrustedKeys(cfg),
    maxSkewMs: cfg.maxSkewMs,
    record: (e) => void station.recordEvent(e),
    actions: station.actions,
  });
  const publish = (reply: CommandReply) => {
    const relay = station.relay;
    if (!relay) return;
    // Group commit (gateway/mqtt/outbox.ts): a failed write is heard when the batch commits.
    relay.send({ topic: replyTopic(code), payload: JSON.stringify(reply), class: 'record' }).catch((err) => {
      log.error({ err: errorMessage(err), transaction: reply.transaction }, 'remote command reply not queued');
    });
  };
  const handle = (payload: Buffer | string): CommandReply => {
    const reply = handler.handle(payload);
    if (reply.status === 'ok') log.warn({ transaction: reply.transaction }, 'remote command accepted');
    else log.warn({ transaction: reply.transaction, error: reply.error }, 'remote command refused');
    publish(reply);
    return reply;
  };
  const relay = station.relay;
  const cmdTopic = relay?.topics.gatewayCmd;
  const off = relay?.inbound.on(({ topic, payload }) => {
    if (topic === cmdTopic) handle(payload);
  });
  if (!relay) log.warn('remote commands configured but no mqtt.upstream: nothing can arrive');
  return { handler, handle, stop: () => off?.() };
}
