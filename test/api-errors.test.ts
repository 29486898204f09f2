// The library's bad-input paths a newcomer hit (issue 18): each is a CrossrankError with a code,
// naming the option the caller wrote, never an internal message.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchError, BiEncoder, Collection, createServer, CrossEncoder, CrossrankError, FaissIndex, Tokenizer } from '../src/index.js';
import { didYouMean, validateKeys } from '../src/errors.js';
import { errorOf, rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

const CE = () => requireShared('models/bert-tiny-cross');
const BI = () => requireShared('models/bert-tiny-bi');

let ce: CrossEncoder;
let col: Collection;
beforeAll(async () => {
  ce = await CrossEncoder.load(CE());
  col = await Collection.create(join(mkdtempSync(join(tmpdir(), 'crossrank-errors-')), 'c'));
  await col.add([{ id: 'a', text: 'BM25 is a ranking function.' }, { id: 'b', text: 'Paris is in France.' }]);
});
afterAll(async () => {
  ce.dispose();
  await col.close();
});

describe('every error is a CrossrankError with a code', () => {
  it('argument errors are TypeError / RangeError and CrossrankError at once; other errors are not', () => {
    const t = errorOf(() => Tokenizer.fromFile(42 as never));
    expect(t).toBeInstanceOf(TypeError);
    expect(t).toBeInstanceOf(CrossrankError);
    expect(t.code).toBe('ERR_INVALID_ARG_TYPE');
    const r = errorOf(() => FaissIndex.create(0));
    expect(r).toBeInstanceOf(CrossrankError);
    expect(r.code).toMatch(/^ERR_/);
    expect(new TypeError('x')).not.toBeInstanceOf(CrossrankError);
    // Subclasses keep their own instanceof: a plain CrossrankError is not a BatchError.
    expect(new CrossrankError('ERR_X', 'x')).not.toBeInstanceOf(BatchError);
    expect(new BatchError([{ index: 0, code: 'ERR_X', message: 'x' }], [null])).toBeInstanceOf(CrossrankError);
  });

  it('Collection.search: a model path as rerank, a misspelt option, an empty query, a closed collection', async () => {
    const path = await rejectionOf(col.search('bm25', { rerank: CE() as never }));
    expect(path).toBeInstanceOf(CrossrankError);
    expect(path.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(path.message).toContain('"options.rerank"');
    expect(path.message).toContain('CrossEncoder.load');
    const misspelt = await rejectionOf(col.search('bm25', { top_k: 1 } as never));
    expect(misspelt.code).toBe('ERR_UNKNOWN_OPTION');
    expect(misspelt.message).toContain('options.top_k is not an option — did you mean options.topK?');
    for (const q of ['', '   ']) expect((await rejectionOf(col.search(q))).code).toBe('ERR_EMPTY_INPUT');
    const other = await Collection.open(col.dir, { readOnly: true });
    await other.close();
    const closed = await rejectionOf(other.search('bm25'));
    expect(closed.code).toBe('ERR_COLLECTION_CLOSED');
    expect(closed.message).not.toContain('database connection');
    // And the collection still answers properly spelt searches.
    expect((await col.search('bm25', { topK: 1, rerank: ce })).hits[0]!.id).toBe('a');
  });

  it('an empty query is refused by the reranker and by the server (422, not 500)', async () => {
    for (const q of ['', ' \n ']) {
      expect((await rejectionOf(ce.score(q, ['a document']))).code).toBe('ERR_EMPTY_INPUT');
      expect((await rejectionOf(ce.rerank(q, ['a document']))).code).toBe('ERR_EMPTY_INPUT');
    }
    expect((await rejectionOf(ce.scorePairs([['q', 'd'], ['', 'd']]))).code).toBe('ERR_EMPTY_INPUT');
    const app = await createServer({ reranker: ce, logger: false });
    try {
      const r = await app.inject({ method: 'POST', url: '/rerank', payload: { query: ' ', texts: ['a document'] } });
      expect(r.statusCode).toBe(422);
      expect(r.json()).toMatchObject({ code: 'ERR_EMPTY_INPUT' });
    } finally {
      await app.close();
    }
  });

  it('an aborted signal rejects even when every pair is in the score cache', async () => {
    const docs = ['BM25 is a ranking function.', 'Paris is in France.'];
    await ce.score('what is bm25?', docs); // now cached
    const ac = new AbortController();
    ac.abort();
    expect((await rejectionOf(ce.score('what is bm25?', docs, { signal: ac.signal }))).code).toBe('ABORT_ERR');
    expect((await rejectionOf(ce.rerank('what is bm25?', docs, { signal: ac.signal }))).code).toBe('ABORT_ERR');
  });

  it('a model of the wrong kind says which class loads it', async () => {
    const asCross = await rejectionOf(CrossEncoder.load(BI()));
    expect(asCross.code).toBe('ERR_WRONG_MODEL_KIND');
    expect(asCross.message).toContain('is an embedding model (BertModel: no classification head), not a cross-encoder: load it with BiEncoder.load');
    const asBi = await rejectionOf(BiEncoder.load(CE()));
    expect(asBi.code).toBe('ERR_WRONG_MODEL_KIND');
    expect(asBi.message).toContain('is a cross-encoder (BertForSequenceClassification), not an embedding model: load it with CrossEncoder.load');
  });

  it('FAISS errors say what failed without C++ signatures; the original, with them, is the cause', () => {
    const e = errorOf(() => FaissIndex.create(8, 'IVF4,PQ3'));
    expect(e.code).toBe('ERR_INDEX_FACTORY');
    expect(e.message.startsWith('FAISS cannot build index "IVF4,PQ3" for dimension 8: ')).toBe(true);
    expect(e.message).toContain('multiple of the number of subquantizers');
    expect(e.message).not.toMatch(/faiss::|\.cpp:\d+|Error in /);
    expect(String((e.cause as Error).message)).toMatch(/Error in .*faiss::.* at .*\.cpp:\d+/);
  });

  it('did-you-mean: close slips only, case and separators ignored', () => {
    expect(didYouMean('top_k', ['first', 'topK', 'candidates'])).toBe('topK');
    expect(didYouMean('candidate', ['first', 'topK', 'candidates'])).toBe('candidates');
    expect(didYouMean('zebra', ['first', 'topK', 'candidates'])).toBeUndefined();
    expect(errorOf(() => validateKeys({ first: 1, zebra: 2 }, 'options', ['first'])).message).toBe('options.zebra is not an option (options: first)');
  });
});
