/**
 * Cohere's rerank, v1 and v2, and Jina's (the same request as Cohere v1):
 *  - POST /v1/rerank { model, query, documents (strings or objects), top_n, return_documents,
 *    max_chunks_per_doc, rank_fields } → { id, model, results: [{ index, relevance_score,
 *    document? }], meta (Cohere), usage.total_tokens (Jina) }.
 *  - POST /v2/rerank { model, query, documents (strings), top_n, max_tokens_per_doc } → { id,
 *    results: [{ index, relevance_score }], meta: { billed_units.search_units, tokens } }.
 */
import type { FastifyInstance, preValidationHookHandler } from 'fastify';
import { codePoints, limitError } from './limits.js';
import { validation } from './errors.js';
import type { Service } from './service.js';

interface V1Body {
  model?: string;
  query: string;
  documents: (string | Record<string, unknown>)[];
  top_n?: number;
  return_documents?: boolean;
  max_chunks_per_doc?: number;
  rank_fields?: string[];
}

interface V2Body {
  model?: string;
  query: string;
  documents: string[];
  top_n?: number;
  max_tokens_per_doc?: number;
}

/** Cohere's default for v2's max_tokens_per_doc. */
const V2_MAX_TOKENS_PER_DOC = 4096;

/** Cohere bills one search unit per query with up to 100 documents. */
const searchUnits = (documents: number) => Math.ceil(documents / 100);

/**
 * Cohere's SDKs send options the caller left unset as `null` (cohere-ai's v1 client sends
 * `max_chunks_per_doc: null`), and Cohere reads them as absent: so do we, for optional fields only.
 */
function nullMeansUnset(required: readonly string[]): preValidationHookHandler {
  return async (req) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
    for (const [k, v] of Object.entries(body)) if (v === null && !required.includes(k)) delete (body as Record<string, unknown>)[k];
  };
}

export function cohereRoutes(app: FastifyInstance, svc: Service): void {
  const L = svc.limits;
  const common = {
    model: { type: 'string', maxLength: 256 },
    query: { type: 'string', maxLength: L.maxQueryChars },
    top_n: { type: 'integer', minimum: 1, maximum: L.maxTopN },
  };
  const v1 = {
    type: 'object',
    required: ['query', 'documents'],
    additionalProperties: false,
    properties: {
      ...common,
      // maxLength applies to string documents; object documents are checked after joining rank_fields.
      documents: { type: 'array', maxItems: L.maxDocuments, items: { type: ['string', 'object'], maxLength: L.maxDocumentChars } },
      return_documents: { type: 'boolean' },
      max_chunks_per_doc: { type: 'integer', minimum: 1, maximum: L.maxChunksPerDoc },
      rank_fields: { type: 'array', items: { type: 'string', maxLength: 256 }, minItems: 1, maxItems: 64 },
    },
  };
  const v2 = {
    type: 'object',
    required: ['query', 'documents'],
    additionalProperties: false,
    properties: {
      ...common,
      documents: { type: 'array', maxItems: L.maxDocuments, items: { type: 'string', maxLength: L.maxDocumentChars } },
      max_tokens_per_doc: { type: 'integer', minimum: 1, maximum: 1 << 20 },
    },
  };

  app.post('/v1/rerank', { schema: { body: v1 }, preValidation: nullMeansUnset(v1.required) }, async (req, reply) => {
    const body = req.body as V1Body;
    // Object documents: the rank_fields (default ['text']) that are present, one per line.
    const fields = body.rank_fields ?? ['text'];
    const texts = body.documents.map((d, i) => {
      if (typeof d === 'string') return d;
      const parts = fields.filter((f) => d[f] !== undefined).map((f) => d[f]);
      if (parts.length === 0 || parts.some((p) => typeof p !== 'string')) {
        throw validation('ERR_VALIDATION', `documents[${i}] needs string field(s) ${fields.map((f) => `"${f}"`).join(', ')}`);
      }
      const text = parts.join('\n');
      const chars = codePoints(text);
      if (chars > L.maxDocumentChars) throw limitError('maxDocumentChars', `documents.${i}`, chars, L.maxDocumentChars);
      return text;
    });
    // Long documents: with max_chunks_per_doc, overlapping windows, the best one scoring (Cohere's meaning).
    const { results, tokens } = await svc.rerank(req, reply, {
      route: '/v1/rerank',
      ...(body.model !== undefined ? { model: body.model } : {}),
      query: body.query,
      texts,
      truncate: true,
      ...(body.max_chunks_per_doc ? { maxChunks: body.max_chunks_per_doc } : {}),
      countTokens: true,
    });
    return {
      id: req.id,
      model: body.model ?? svc.modelId,
      results: results.slice(0, body.top_n ?? results.length).map((r) => {
        const d = body.documents[r.index]!;
        // The caller's document object comes back unchanged; a string as Cohere's { text }.
        return { index: r.index, relevance_score: r.score, ...(body.return_documents ? { document: typeof d === 'string' ? { text: d } : d } : {}) };
      }),
      meta: { api_version: { version: '1' }, billed_units: { search_units: searchUnits(texts.length) } },
      usage: { total_tokens: tokens },
    };
  });

  app.post('/v2/rerank', { schema: { body: v2 }, preValidation: nullMeansUnset(v2.required) }, async (req, reply) => {
    const body = req.body as V2Body;
    const { results, tokens } = await svc.rerank(req, reply, {
      route: '/v2/rerank',
      ...(body.model !== undefined ? { model: body.model } : {}),
      query: body.query,
      texts: body.documents,
      truncate: true,
      maxTokensPerDoc: body.max_tokens_per_doc ?? V2_MAX_TOKENS_PER_DOC,
      countTokens: true,
    });
    return {
      id: req.id,
      results: results.slice(0, body.top_n ?? results.length).map((r) => ({ index: r.index, relevance_score: r.score })),
      meta: {
        api_version: { version: '2' },
        billed_units: { search_units: searchUnits(body.documents.length) },
        ...(tokens === null ? {} : { tokens: { input_tokens: tokens, output_tokens: 0 } }),
      },
    };
  });
}
