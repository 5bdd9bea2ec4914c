/**
 * The dashboard's live feed over Server-Sent Events (issue 6 point 1): on
 * connect, every post tile and the banner; then a tile whenever its post's
 * phase, valve, refusal or record changes (at once), and live weight at most
 * `hz` times a second per post (a scale polled at 10 Hz would otherwise push
 * 10 updates per post per screen). Only changed tiles are sent, so an idle
 * station costs one comparison per post per tick.
 */
import type { ServerResponse } from 'node:http';
import type { Unsubscribe } from '../../../protocols/signal.ts';
import { errorMessage } from '../../../protocols/errors.ts';
import type { Station } from '../../runtime/station.ts';
import type { PostEvent } from '../../runtime/post.ts';
import type { Logger } from '../../log.ts';
import { bannerView, postTile, recordReasons, type BannerView, type PostMemory, type PostTile } from './view.ts';
import { reasonText } from '../../i18n/index.ts';

interface Client {
  res: ServerResponse;
  expiresAt: number;
  sent: Map<string, string>;
}

/** A slow screen that falls this far behind is dropped; its EventSource reconnects and starts fresh. */
const MAX_BUFFERED = 512 * 1024;
const MAX_CLIENTS = 64;
const HEARTBEAT_MS = 15_000;

export class LiveHub {
  private memory = new Map<string, PostMemory>();
  private clients = new Set<Client>();
  private subs: Unsubscribe[] = [];
  private timer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  readonly stats = { connects: 0, dropped: 0, sent: 0, errors: 0 };

  constructor(private readonly station: Station, private readonly opts: { hz: number; log: Logger; wall?: () => number }) {}

  start(): void {
    this.subs.push(this.station.events.on((e) => this.onEvent(e)));
  }

  stop(): void {
    for (const off of this.subs) off();
    this.subs = [];
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = this.heartbeat = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  tiles(): PostTile[] {
    return [...this.station.posts.keys()].map((id) => this.tile(id)).filter((t): t is PostTile => !!t);
  }

  tile(post: string): PostTile | undefined {
    const rt = this.station.posts.get(post);
    if (!rt) return undefined;
    const scale = this.station.devices?.posts.get(post)?.scale.getHealth();
    const context = { now: this.station.clock.now(), emptyBelowKg: this.station.config.eligibility.emptyScaleBelowKg, ...(scale ? { scale } : {}) };
    return this.withExceptions(postTile(rt.id, rt.snapshot, this.memory.get(rt.id), this.station.lockState.length > 0, context));
  }

  /** Open exceptions count against the post until a supervisor closes them out. */
  private withExceptions(tile: PostTile): PostTile {
    const open = this.station.exceptions?.open(tile.post) ?? [];
    if (open.length === 0) return tile;
    return {
      ...tile,
      exceptions: open.map((e) => ({ id: e.id, code: e.code, ...reasonText(e.code), raisedAt: e.raisedAt, ...(e.cylinderCode ? { cylinderCode: e.cylinderCode } : {}), ...(e.detail ? { detail: e.detail } : {}) })),
    };
  }

  banner(): BannerView {
    return bannerView(this.station.lockState, this.station.leak?.interlock.state);
  }

  /** Takes over the response as an event stream until the screen goes away or the session expires. */
  attach(res: ServerResponse, expiresAt: number): boolean {
    if (this.clients.size >= MAX_CLIENTS) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    const client: Client = { res, expiresAt, sent: new Map() };
    this.clients.add(client);
    this.stats.connects++;
    res.on('close', () => this.drop(client));
    this.push(client, true);
    this.ensureTimers();
    return true;
  }

  private onEvent(e: PostEvent): void {
    try {
      const m = this.memory.get(e.post) ?? {};
      if (e.kind === 'phase') {
        m.notice = undefined;
        // A new code read starts a new attempt: the last outcome has been seen.
        if (e.phase === 'identified') m.record = undefined;
      } else if (e.kind === 'display') {
        m.notice = { reason: e.reason, detail: e.detail };
      } else if (e.kind === 'record') {
        m.record = e.attempt;
        m.notice = undefined;
      }
      this.memory.set(e.post, m);
      if (e.kind === 'record') this.broadcast('record', { post: e.post, outcome: e.attempt.outcome, cylinderCode: e.attempt.cylinderCode, reasons: recordReasons(e.attempt) });
      for (const c of this.clients) this.push(c, false, e.post);
    } catch (err) {
      // A bad event must not stop the station's signal or the other screens.
      this.stats.errors++;
      this.opts.log.warn({ err: errorMessage(err) }, 'dashboard live update failed');
    }
  }

  /** Sends what changed since the last push to this client (all of it when `full`, one post when `only`). */
  private push(c: Client, full: boolean, only?: string): void {
    const tiles = only ? [this.tile(only)].filter((t): t is PostTile => !!t) : this.tiles();
    for (const tile of tiles) this.sendIfChanged(c, `post:${tile.post}`, 'post', tile, full);
    this.sendIfChanged(c, 'banner', 'banner', this.banner(), full);
  }

  private sendIfChanged(c: Client, key: string, event: string, data: unknown, force: boolean): void {
    const json = JSON.stringify(data);
    if (!force && c.sent.get(key) === json) return;
    c.sent.set(key, json);
    this.write(c, `event: ${event}\ndata: ${json}\n\n`);
  }

  private broadcast(event: string, data: unknown): void {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) this.write(c, text);
  }

  private write(c: Client, text: string): void {
    if (c.res.writableLength > MAX_BUFFERED) {
      this.stats.dropped++;
      c.res.destroy();
      this.drop(c);
      return;
    }
    c.res.write(text);
    this.stats.sent++;
  }

  private tick(): void {
    try {
      const tiles = this.tiles();
      const banner = this.banner();
      for (const c of this.clients) {
        for (const tile of tiles) this.sendIfChanged(c, `post:${tile.post}`, 'post', tile, false);
        this.sendIfChanged(c, 'banner', 'banner', banner, false);
      }
    } catch (err) {
      this.stats.errors++;
      this.opts.log.warn({ err: errorMessage(err) }, 'dashboard live tick failed');
    }
  }

  private beat(): void {
    const now = (this.opts.wall ?? Date.now)();
    for (const c of this.clients) {
      // The stream outlives no session: an expired login gets a logout event and the stream ends.
      if (now >= c.expiresAt) {
        this.write(c, 'event: expired\ndata: {}\n\n');
        c.res.end();
        this.drop(c);
      } else this.write(c, ': keep-alive\n\n');
    }
  }

  private ensureTimers(): void {
    if (!this.timer) this.timer = setInterval(() => this.tick(), Math.round(1000 / this.opts.hz));
    if (!this.heartbeat) this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
  }

  private drop(c: Client): void {
    this.clients.delete(c);
    if (this.clients.size === 0) {
      clearInterval(this.timer);
      clearInterval(this.heartbeat);
      this.timer = this.heartbeat = undefined;
    }
  }
}
