/**
 * Prometheus metrics of one receiver node (issue 11 point 5), in a Registry of its own
 * (several receivers in one test process must not share prom-client's global one). Each
 * node is scraped on its own `/metrics`; the `node` label is the node's name (host:pid by
 * default) so a dashboard can sum over the cluster.
 */
import { hostname } from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReceiverStore, RecordResult } from './store.ts';

export class ReceiverMetrics {
  readonly registry = new Registry();
  private readonly items: Counter<'chain' | 'status' | 'reason'>;
  private readonly batch: Histogram<'chain'>;
  private readonly errors: Counter<'chain'>;
  readonly inflight: Gauge;

  constructor(store: ReceiverStore, node = `${hostname()}:${process.pid}`) {
    this.registry.setDefaultLabels({ node });
    collectDefaultMetrics({ register: this.registry, prefix: 'fillgate_receiver_' });
    this.items = new Counter({ name: 'fillgate_receiver_items_total', help: 'Records and events answered, by chain, status and reject reason', labelNames: ['chain', 'status', 'reason'], registers: [this.registry] });
    this.batch = new Histogram({
      name: 'fillgate_receiver_batch_seconds',
      help: 'Time from a batch received to its answer (verified and committed)',
      labelNames: ['chain'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.errors = new Counter({ name: 'fillgate_receiver_batch_errors_total', help: 'Batches answered 503 (database unavailable) or 500', labelNames: ['chain'], registers: [this.registry] });
    this.inflight = new Gauge({ name: 'fillgate_receiver_inflight_batches', help: 'Batches being verified or committed on this node', registers: [this.registry] });
    const pool = (store as { pg?: { totalCount: number; idleCount: number; waitingCount: number } }).pg;
    if (pool) {
      new Gauge({
        name: 'fillgate_receiver_db_pool',
        help: 'PostgreSQL pool clients: total, idle, and requests waiting for one',
        labelNames: ['state'],
        registers: [this.registry],
        collect() {
          this.set({ state: 'total' }, pool.totalCount);
          this.set({ state: 'idle' }, pool.idleCount);
          this.set({ state: 'waiting' }, pool.waitingCount);
        },
      });
    }
  }

  observe(chain: 'records' | 'events', seconds: number, results: RecordResult[]): void {
    this.batch.observe({ chain }, seconds);
    const counts = new Map<string, number>();
    for (const r of results) {
      const k = `${r.status}\n${r.reason ?? 'none'}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (const [k, n] of counts) {
      const [status, reason] = k.split('\n');
      this.items.inc({ chain, status, reason }, n);
    }
  }

  failed(chain: 'records' | 'events'): void {
    this.errors.inc({ chain });
  }
}
