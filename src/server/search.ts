/**
 * crossrank's own two-stage search over a collection: POST /search → hits with their movement.
 * A Pipeline over the collection's retriever does the work; `model` picks one of the server's
 * rerankers (as in /v1/rerank).
 */
import type { FastifyInstance } from 'fastify';
import { Pipeline } from '../pipeline/pipeline.js';
import { CollectionRetriever } from '../retrievers/collection.js';
import { HttpError, validation } from './errors.js';
import type { Service } from './service.js';

interface SearchBody {
  query: string;
  first?: 'dense' | 'bm25' | 'hybrid';
  candidates?: number;
  top_k?: number;
  rerank?: boolean;
  model?: string;
  latency_budget_ms?: number;
}

export function searchRoutes(app: FastifyInstance, svc: Service): void {
  const L = svc.limits;
  const schema = {
    type: 'object',
    required: ['query'],
    additionalProperties: false,
    properties: {
      query: { type: 'string', maxLength: L.maxQueryChars },
      first: { type: 'string', enum: ['dense', 'bm25', 'hybrid'] },
      candidates: { type: 'integer', minimum: 1, maximum: L.maxCandidates },
      top_k: { type: 'integer', minimum: 1, maximum: L.maxTopN },
      rerank: { type: 'boolean' },
      model: { type: 'string', maxLength: 256 },
      latency_budget_ms: { type: 'number', exclusiveMinimum: 0, maximum: 3_600_000 },
    },
  };
  app.post('/search', { schema: { body: schema } }, async (req, reply) => {
    const col = svc.need('collection', '/search');
    const body = req.body as SearchBody;
    const reranker = svc.models.reranker;
    if (body.rerank && !reranker) throw new HttpError(404, 'Unavailable', 'ERR_NOT_CONFIGURED', '`rerank: true` needs a reranker; this server was started without one');
    const useRerank = body.rerank ?? Boolean(reranker);
    let retriever: CollectionRetriever;
    try {
      retriever = new CollectionRetriever(col, body.first ? { first: body.first } : {});
    } catch (e) {
      // A first stage the collection has no index for is the request's fault, not the server's.
      const code = (e as { code?: string }).code;
      if (code === 'ERR_NO_DENSE_INDEX' || code === 'ERR_NO_BM25_INDEX') throw validation(code, `first: ${(e as Error).message}`);
      throw e;
    }
    const pipeline = new Pipeline({ retriever, ...(useRerank && reranker ? { rerank: svc.pick('/search', body.model).scorer } : {}) });
    const res = await svc.run(req, reply, (signal) =>
      pipeline.search(body.query, {
        candidates: body.candidates ?? 100,
        topK: body.top_k ?? 10,
        ...(useRerank && body.latency_budget_ms ? { latencyBudgetMs: body.latency_budget_ms } : {}),
        signal,
      }),
    );
    if (useRerank && reranker) svc.metrics.pairs.inc(res.plan ? res.plan.rerank : res.candidates);
    return {
      first: retriever.first,
      candidates: res.candidates,
      hits: res.hits.map((h) => ({
        id: h.id,
        text: h.text,
        ...(h.metadata ? { metadata: h.metadata } : {}),
        rank: h.rank,
        score: h.score,
        first_stage_rank: h.firstStageRank,
        first_stage_score: h.firstStageScore,
        moved: h.firstStageRank - h.rank,
        reranked: h.reranked,
        stage: h.stage,
      })),
      timings: { first_stage_ms: res.timings.firstStageMs, rerank_ms: res.timings.rerankMs, total_ms: res.timings.totalMs },
      stages: res.stages.map((s) => ({ name: s.name, candidates: s.candidates, reranked: s.reranked, kept: s.kept, ms: s.ms })),
      ...(res.plan ? { plan: res.plan } : {}),
    };
  });
}
