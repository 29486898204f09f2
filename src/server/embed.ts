/** TEI's embed: POST /embed { inputs, normalize, truncate, truncation_direction } → vectors. */
import type { FastifyInstance } from 'fastify';
import { validation } from './errors.js';
import type { Service } from './service.js';
import { checkDirection, TRUNCATION_DIRECTION } from './tei.js';

interface EmbedBody {
  inputs: string | string[];
  normalize?: boolean;
  truncate?: boolean | null;
  truncation_direction?: string;
}

export function embedRoutes(app: FastifyInstance, svc: Service): void {
  const L = svc.limits;
  const schema = {
    type: 'object',
    required: ['inputs'],
    additionalProperties: false,
    properties: {
      // A string or an array of strings (maxLength applies to strings, maxItems to arrays).
      inputs: { type: ['string', 'array'], maxLength: L.maxDocumentChars, maxItems: L.maxEmbedInputs, items: { type: 'string', maxLength: L.maxDocumentChars } },
      normalize: { type: 'boolean' },
      truncate: { type: ['boolean', 'null'] },
      truncation_direction: TRUNCATION_DIRECTION,
    },
  };
  app.post('/embed', { schema: { body: schema } }, async (req, reply) => {
    const body = req.body as EmbedBody;
    const bi = svc.need('embedder', '/embed');
    checkDirection(body.truncation_direction);
    const inputs = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
    const normalize = body.normalize ?? true;
    if (!normalize && bi.normalize) {
      throw validation('ERR_UNSUPPORTED', 'this embedder was loaded with normalize: true; it cannot return unnormalized vectors');
    }
    const flat = await svc.embed(req, reply, inputs, body.truncate ?? svc.autoTruncate);
    const dim = flat.length / inputs.length;
    return inputs.map((_, i) => {
      const v = flat.subarray(i * dim, (i + 1) * dim);
      if (normalize && !bi.normalize) {
        let s = 0;
        for (const x of v) s += x * x;
        const norm = Math.sqrt(s) || 1;
        return Array.from(v, (x) => x / norm);
      }
      return Array.from(v);
    });
  });
}
