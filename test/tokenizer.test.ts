import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchError, CrossrankError, Tokenizer } from '../src/index.js';
import { requireShared } from './shared.js';
import { errorOf, rejectionOf } from './helpers.js';

const dir = () => requireShared('fixtures/tokenizers/bert-uncased');

describe('Tokenizer API and errors', () => {
  it('loads from a directory and a file, reports vocab size and file truncation', () => {
    const t = Tokenizer.fromDirectory(dir());
    expect(t.vocabSize).toBe(30522);
    expect(t.truncation).toEqual({ maxLength: 512, strategy: 'longest_first', stride: 0, direction: 'right' });
    expect(t.specialTokens).toEqual({ single: 2, pair: 3 });
    const e = t.encode('Hello world', 'second');
    expect(Array.from(e.ids)).toEqual([101, 7592, 2088, 102, 2117, 102]);
    expect(Array.from(e.typeIds)).toEqual([0, 0, 0, 0, 1, 1]);
    expect(Array.from(e.attentionMask)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(e.specialTokensMask)).toEqual([1, 0, 0, 1, 0, 1]);
  });

  it('returns tokens and UTF-16 offsets that slice the input', () => {
    const t = Tokenizer.fromDirectory(dir());
    const text = 'Héllo 😀 wörld';
    const e = t.encode(text, null, { returnTokens: true });
    expect(e.tokens).toEqual(['[CLS]', 'hello', '[UNK]', 'world', '[SEP]']);
    const spans = [];
    for (let i = 0; i < e.ids.length; i++) spans.push(text.slice(e.offsets[2 * i], e.offsets[2 * i + 1]));
    expect(spans).toEqual(['', 'Héllo', '😀', 'wörld', '']);
  });

  it('rejects bad arguments with typed errors naming the argument', () => {
    const t = Tokenizer.fromDirectory(dir());
    expect(() => t.encode(42 as never)).toThrow(TypeError);
    expect(() => t.encode(42 as never)).toThrow(/"text" argument must be of type string/);
    expect(() => t.encode('a', 7 as never)).toThrow(/"pair"/);
    expect(() => t.encode('a', null, { maxLength: 0 })).toThrow(RangeError);
    expect(() => t.encode('a', null, { maxLength: 1.5 })).toThrow(/options.maxLength/);
    expect(() => t.encode('a', null, { truncation: 'middle' as never })).toThrow(/options.truncation/);
    expect(errorOf(() => t.encode(undefined as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(() => t.decode('abc' as never)).toThrow(TypeError);
    expect(() => Tokenizer.fromFile(5 as never)).toThrow(TypeError);
  });

  it('names the file for missing, malformed and unsupported tokenizer.json', () => {
    const d = mkdtempSync(join(tmpdir(), 'crossrank-'));
    expect(() => Tokenizer.fromFile(join(d, 'nope.json'))).toThrow(expect.objectContaining({ code: 'ERR_FILE_NOT_FOUND' }));
    expect(() => Tokenizer.fromDirectory(d)).toThrow(/no tokenizer.json/);
    const bad = join(d, 'bad.json');
    writeFileSync(bad, '{"model": ');
    expect(() => Tokenizer.fromFile(bad)).toThrow(CrossrankError);
    expect(() => Tokenizer.fromFile(bad)).toThrow(expect.objectContaining({ code: 'ERR_TOKENIZER_JSON', message: expect.stringContaining(bad) }));
    const j = JSON.parse(readFileSync(join(dir(), 'tokenizer.json'), 'utf8'));
    j.normalizer = { type: 'FancyNormalizer' };
    const unk = join(d, 'unknown.json');
    writeFileSync(unk, JSON.stringify(j));
    expect(() => Tokenizer.fromFile(unk)).toThrow(expect.objectContaining({ code: 'ERR_TOKENIZER_UNSUPPORTED' }));
    expect(() => Tokenizer.fromFile(unk)).toThrow(/FancyNormalizer.*unknown\.json/);
  });

  it('handles lone surrogates like the reference (U+FFFD, no crash)', () => {
    const t = Tokenizer.fromDirectory(dir());
    const e = t.encode('a\ud800b\udfffc');
    expect(e.ids.length).toBeGreaterThan(2);
    expect(t.decode(e.ids)).toBe('abc');
  });

  it('tokenizes a 10 MB string', async () => {
    const t = Tokenizer.fromDirectory(dir());
    const text = 'retrieval '.repeat(1_000_000);
    const [e] = await t.encodeBatch([text], { truncation: false });
    expect(e!.ids.length).toBe(1_000_002);
    expect(e!.truncated).toBe(false);
  });

  it('reports per-item failures of a batch and keeps the other results', async () => {
    const t = Tokenizer.fromDirectory(dir());
    const long = 'word '.repeat(50);
    const p = t.encodeBatch([['a b c d e f g h', long], ['x', 'y'], 'single'], { maxLength: 8, truncation: 'only_first' });
    const be = (await rejectionOf(p)) as BatchError<unknown>;
    expect(be).toBeInstanceOf(BatchError);
    expect(be.failures.map((f) => [f.index, f.code])).toEqual([[0, 'ERR_TRUNCATION']]);
    expect(be.results[0]).toBeNull();
    expect(be.results[1]).not.toBeNull();
    expect(be.results[2]).not.toBeNull();
  });

  it('an empty sequence cannot absorb only_first truncation: a clear per-item error', () => {
    const t = Tokenizer.fromDirectory(dir());
    expect(() => t.encode('', 'word '.repeat(40), { maxLength: 16, truncation: 'only_first' })).toThrow(
      expect.objectContaining({ code: 'ERR_TRUNCATION', message: expect.stringMatching(/first sequence \(0 tokens\) is too short/) }),
    );
    expect(t.encode('', 'word '.repeat(40), { maxLength: 16 }).ids.length).toBe(16);
  });

  it('encodeBatch mixes texts and pairs and keeps input order', async () => {
    const t = Tokenizer.fromDirectory(dir());
    const inputs = ['first text', ['query', 'doc'] as const, 'third'];
    const out = await t.encodeBatch(inputs);
    expect(out.map((e) => Array.from(e.ids))).toEqual(inputs.map((i) => Array.from(typeof i === 'string' ? t.encode(i).ids : t.encode(i[0], i[1]).ids)));
    await expect(t.encodeBatch([1 as never])).rejects.toThrow(/inputs\[0\]/);
  });

  it('decodes, with and without special tokens', () => {
    const t = Tokenizer.fromDirectory(dir());
    const e = t.encode("Don't stop, believing!");
    expect(t.decode(e.ids)).toBe("don ' t stop, believing!"); // as HF: its clean-up works per token
    expect(t.decode(e.ids, false)).toBe("[CLS] don ' t stop, believing! [SEP]");
    expect(t.tokenToId('[SEP]')).toBe(102);
    expect(t.idToToken(101)).toBe('[CLS]');
    expect(t.tokenToId('definitely-not-a-token')).toBeUndefined();
  });
});

describe('Tokenizer: overflowing windows and long pairs', () => {
  const words = (n: number, w: string) => Array.from({ length: n }, (_, i) => `${w}${i % 97}`).join(' ');

  it('a pair builds no windows unless asked; a single text keeps every window', () => {
    const t = Tokenizer.fromDirectory(dir());
    const q = words(8, 'query');
    const d = words(300, 'document');
    const pair = t.encode(q, d, { maxLength: 64, truncation: 'only_second', stride: 8 });
    expect(pair.ids.length).toBe(64);
    expect(pair.truncated).toBe(true);
    expect(pair.overflowing).toEqual([]);
    const asked = t.encode(q, d, { maxLength: 64, truncation: 'only_second', stride: 8, returnOverflowing: true });
    expect(Array.from(asked.ids)).toEqual(Array.from(pair.ids));
    // Every window holds the whole query and the next part of the document, overlapping by 8.
    const qLen = t.encode(q, null, { truncation: false, addSpecialTokens: false }).ids.length;
    const dIds = Array.from(t.encode(d, null, { truncation: false, addSpecialTokens: false }).ids);
    const room = 64 - 3 - qLen;
    expect(asked.overflowing.length).toBe(Math.ceil((dIds.length - room) / (room - 8)));
    asked.overflowing.forEach((w, k) => {
      const docPart = Array.from(w.ids).filter((_, i) => w.sequenceIds[i] === 1);
      expect(docPart).toEqual(dIds.slice((k + 1) * (room - 8), (k + 1) * (room - 8) + room));
    });
    const single = t.encode(d, null, { maxLength: 64, stride: 8 });
    expect(single.overflowing.length).toBeGreaterThan(5);
    expect(t.encode(d, null, { maxLength: 64, stride: 8, returnOverflowing: false }).overflowing).toEqual([]);
    expect(() => t.encode(q, d, { returnOverflowing: 1 as never })).toThrow(/options.returnOverflowing/);
  });

  it('a 3 000-word query with a 3 000-word document at maxLength 5: one encoding, no windows', async () => {
    const t = Tokenizer.fromDirectory(dir());
    const q = words(3000, 'alpha');
    const d = words(3000, 'beta');
    const e = t.encode(q, d, { maxLength: 5 });
    expect(e.ids.length).toBe(5);
    expect(e.truncated).toBe(true);
    expect(e.overflowing).toEqual([]);
    const [b] = await t.encodeBatch([[q, d]], { maxLength: 5 });
    expect(Array.from(b!.ids)).toEqual(Array.from(e.ids));
    // Asking for the windows of two long sides: their product is refused, typed.
    const err = errorOf(() => t.encode(q, d, { maxLength: 5, returnOverflowing: true }));
    expect(err).toBeInstanceOf(CrossrankError);
    expect(err.code).toBe('ERR_TOO_MANY_WINDOWS');
    expect(err.message).toMatch(/\d+ rows \(more than 4096\)/);
    // ... while a product that fits is built, as Hugging Face's Encoding::merge_with combines them.
    const small = t.encode(words(6, 'a'), words(6, 'b'), { maxLength: 9, returnOverflowing: true });
    expect(small.overflowing.length).toBeGreaterThan(3);
  });

  it('a 1 MB query with a 1 MB document encodes to maxLength tokens', () => {
    const t = Tokenizer.fromDirectory(dir());
    const mb = 'retrieval '.repeat(100_000);
    const e = t.encode(mb, mb, { maxLength: 512 });
    expect(e.ids.length).toBe(512);
    expect(e.truncated).toBe(true);
    expect(Array.from(e.typeIds.subarray(0, 256)).every((x) => x === 0)).toBe(true);
    expect(e.typeIds[511]).toBe(1);
  });

  it('refuses a stride that leaves no room, naming the option (typed)', () => {
    const t = Tokenizer.fromDirectory(dir());
    const e = errorOf(() => t.encode('a', 'b', { maxLength: 8, stride: 5 }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_OUT_OF_RANGE');
    expect(e.message).toContain('options.stride');
  });
});
