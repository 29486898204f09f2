/** Prometheus metrics of the HTTP service (prom-client, text format at GET /metrics). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Scorer } from '../inference/scorer.js';
import { RerankPool } from '../pool/rerank-pool.js';
import type { Admission } from './admission.js';

export interface Metrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route'>;
  pairs: Counter;
  documents: Histogram;
  aborted: Counter<'route'>;
  /** Requests refused by a limit, by the limit's name. */
  limits: Counter<'limit'>;
  authFailures: Counter;
  /** Answers by error code (4xx and 5xx). */
  errors: Counter<'code'>;
}

export function makeMetrics(admission: Admission, state: () => number): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'crossrank_' });
  const registers = [registry];
  new Gauge({ name: 'crossrank_admission_running', help: 'Requests doing model work now', registers, collect() { this.set(admission.running); } });
  new Gauge({ name: 'crossrank_admission_waiting', help: 'Requests admitted and waiting for their turn', registers, collect() { this.set(admission.waiting); } });
  new Gauge({ name: 'crossrank_ready', help: '1 when serving; 0 while loading, draining or after a failed load', registers, collect() { this.set(state()); } });
  return {
    registry,
    requests: new Counter({ name: 'crossrank_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers }),
    duration: new Histogram({
      name: 'crossrank_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    pairs: new Counter({ name: 'crossrank_pairs_scored_total', help: '(query, document) pairs scored by the reranker', registers }),
    documents: new Histogram({ name: 'crossrank_rerank_documents', help: 'Documents per rerank request', buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000], registers }),
    aborted: new Counter({ name: 'crossrank_requests_aborted_total', help: 'Requests whose client went away before the answer', labelNames: ['route'], registers }),
    limits: new Counter({ name: 'crossrank_limit_rejections_total', help: 'Requests refused by a limit, by limit', labelNames: ['limit'], registers }),
    authFailures: new Counter({ name: 'crossrank_auth_failures_total', help: 'Requests refused for a missing or wrong API key', registers }),
    errors: new Counter({ name: 'crossrank_http_errors_total', help: 'Error answers by code', labelNames: ['code'], registers }),
  };
}

/** Gauges that need the loaded reranker (score cache; pool queue). */
export function addScorerGauges(m: Metrics, reranker: Scorer): void {
  const registers = [m.registry];
  new Gauge({ name: 'crossrank_score_cache_entries', help: 'Pairs held by the score cache', registers, collect() { this.set(reranker.cacheStats()?.size ?? 0); } });
  new Gauge({
    name: 'crossrank_score_cache_hits',
    help: 'Pairs answered by the score cache since start (including in-flight sharing)',
    registers,
    collect() {
      const s = reranker.cacheStats();
      this.set(s ? s.hits + s.inflightHits : 0);
    },
  });
  if (reranker instanceof RerankPool) {
    new Gauge({ name: 'crossrank_pool_queued_tasks', help: 'Rerank tasks waiting for a pool worker', registers, collect() { this.set(reranker.stats().queuedTasks); } });
    new Gauge({ name: 'crossrank_pool_requests', help: 'Requests admitted by the pool and not finished', registers, collect() { this.set(reranker.stats().requests); } });
  }
}
