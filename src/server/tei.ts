/**
 * Hugging Face text-embeddings-inference's rerank: POST /rerank { query, texts, raw_scores,
 * return_text, truncate, truncation_direction } → [{ index, score, text? }], best first.
 */
import type { FastifyInstance } from 'fastify';
import { validation } from './errors.js';
import type { Service } from './service.js';

/** TEI's truncation_direction: only Right is implemented; Left is refused, never ignored. */
export const TRUNCATION_DIRECTION = { type: 'string', enum: ['Right', 'Left', 'right', 'left'] } as const;

export function checkDirection(direction: string | undefined): void {
  if (direction && direction.toLowerCase() === 'left') {
    throw validation('ERR_UNSUPPORTED', 'truncation_direction "Left" is not supported: inputs are cut from the right');
  }
}

interface TeiRerankBody {
  query: string;
  texts: string[];
  raw_scores?: boolean;
  return_text?: boolean;
  truncate?: boolean | null;
  truncation_direction?: string;
}

export function teiRoutes(app: FastifyInstance, svc: Service): void {
  const L = svc.limits;
  const schema = {
    type: 'object',
    required: ['query', 'texts'],
    additionalProperties: false,
    properties: {
      query: { type: 'string', maxLength: L.maxQueryChars },
      texts: { type: 'array', maxItems: L.maxDocuments, items: { type: 'string', maxLength: L.maxDocumentChars } },
      raw_scores: { type: 'boolean' },
      return_text: { type: 'boolean' },
      truncate: { type: ['boolean', 'null'] },
      truncation_direction: TRUNCATION_DIRECTION,
    },
  };
  app.post('/rerank', { schema: { body: schema } }, async (req, reply) => {
    const body = req.body as TeiRerankBody;
    checkDirection(body.truncation_direction);
    const { results } = await svc.rerank(req, reply, { route: '/rerank', query: body.query, texts: body.texts, truncate: body.truncate ?? svc.autoTruncate });
    return results.map((r) => ({ index: r.index, score: body.raw_scores ? r.logit : r.score, ...(body.return_text ? { text: body.texts[r.index] } : {}) }));
  });
}
