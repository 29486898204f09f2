// tokenizer.json validation: a table of malformed and unusual files, each loaded by crossrank and
// by Hugging Face's `tokenizers` (the oracle). Both must accept or both refuse; a refusal is a
// CrossrankError with a stable code naming the field; an accepted file encodes as the oracle does.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CrossrankError, Tokenizer } from '../src/index.js';
import { errorOf } from './helpers.js';

const require = createRequire(import.meta.url);
const hf = require('tokenizers') as typeof import('tokenizers');

type Json = Record<string, any>;

const special = (id: number, content: string) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
});
const template = (cls: [string, number], sep: [string, number]) => ({
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: cls[0], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep[0], type_id: 0 } }],
  pair: [
    { SpecialToken: { id: cls[0], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep[0], type_id: 0 } },
    { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: sep[0], type_id: 1 } },
  ],
  special_tokens: {
    [cls[0]]: { id: cls[0], ids: [cls[1]], tokens: [cls[0]] },
    [sep[0]]: { id: sep[0], ids: [sep[1]], tokens: [sep[0]] },
  },
});

/** Small complete files of each model type, in the layout Hugging Face writes. */
function wordpiece(): Json {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '[PAD]'), special(1, '[UNK]'), special(2, '[CLS]'), special(3, '[SEP]')],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: template(['[CLS]', 2], ['[SEP]', 3]),
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
      vocab: { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, hello: 4, world: 5, '##s': 6, re: 7, '##rank': 8, '##ing': 9, rank: 10, ',': 11, '!': 12 },
    },
  };
}

function bpe(): Json {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(14, '<s>'), special(15, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: template(['<s>', 14], ['</s>', 15]),
    decoder: null,
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: { '<unk>': 0, h: 1, e: 2, l: 3, o: 4, he: 5, ll: 6, hell: 7, hello: 8, w: 9, r: 10, d: 11, wo: 12, rd: 13, '<s>': 14, '</s>': 15 },
      merges: [['h', 'e'], ['l', 'l'], ['he', 'll'], ['hell', 'o'], ['w', 'o'], ['r', 'd']],
    },
  };
}

function unigram(): Json {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(12, '<s>'), special(13, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: template(['<s>', 12], ['</s>', 13]),
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: {
      type: 'Unigram', unk_id: 0, byte_fallback: false,
      vocab: [['<unk>', 0], ['▁', -2], ['▁hello', -3], ['hello', -4], ['h', -5], ['e', -5], ['l', -5], ['o', -5], ['▁world', -3], ['w', -5], ['r', -5], ['d', -5], ['<s>', 0], ['</s>', 0]],
    },
  };
}

const BASES = { wordpiece, bpe, unigram };
type Base = keyof typeof BASES;

interface Variant {
  name: string;
  base: Base;
  edit?: (j: Json) => void;
  /** The whole text, for files that are not an edit of a base (or cannot be built as objects). */
  text?: () => string;
  /** The field a refusal must name. */
  field?: string;
  /** Hugging Face loads the file but crossrank refuses it, for this reason. */
  divergent?: string;
}

const drop = (o: Json, k: string) => { delete o[k]; };
const nested = (depth: number) =>
  JSON.stringify(wordpiece()).replace(
    /"normalizer":\{[^}]*\}/,
    `"normalizer":${'{"type":"Sequence","normalizers":['.repeat(depth)}{"type":"Lowercase"}${']}'.repeat(depth)}`,
  );

const VARIANTS: Variant[] = [
  { name: 'well-formed WordPiece', base: 'wordpiece' },
  { name: 'well-formed BPE', base: 'bpe' },
  { name: 'well-formed Unigram', base: 'unigram' },
  // merges
  { name: 'BPE merges as an object', base: 'bpe', edit: (j) => { j.model.merges = {}; }, field: 'merges' },
  { name: 'BPE merges as strings "a b"', base: 'bpe', edit: (j) => { j.model.merges = j.model.merges.map((m: string[]) => m.join(' ')); } },
  { name: 'BPE merges empty', base: 'bpe', edit: (j) => { j.model.merges = []; } },
  { name: 'BPE merge string without a space', base: 'bpe', edit: (j) => { j.model.merges = ['he']; }, field: 'merges' },
  { name: 'BPE merge of three strings', base: 'bpe', edit: (j) => { j.model.merges = [['h', 'e', 'l']]; }, field: 'merges' },
  { name: 'BPE merge of a number', base: 'bpe', edit: (j) => { j.model.merges = [[1, 2]]; }, field: 'merges' },
  { name: 'BPE merge of a token missing from the vocabulary', base: 'bpe', edit: (j) => { j.model.merges.push(['x', 'y']); }, field: 'merges' },
  { name: 'BPE merge whose result is missing', base: 'bpe', edit: (j) => { j.model.merges.push(['o', 'w']); }, field: 'merges' },
  { name: 'BPE without merges', base: 'bpe', edit: (j) => drop(j.model, 'merges'), field: 'merges' },
  { name: 'BPE merges null', base: 'bpe', edit: (j) => { j.model.merges = null; }, field: 'merges' },
  // vocabulary
  { name: 'vocab id as a string', base: 'bpe', edit: (j) => { j.model.vocab.h = '1'; }, field: 'vocab' },
  { name: 'vocab id fractional', base: 'wordpiece', edit: (j) => { j.model.vocab.hello = 4.5; }, field: 'vocab' },
  { name: 'vocab id negative', base: 'wordpiece', edit: (j) => { j.model.vocab.hello = -4; }, field: 'vocab' },
  {
    name: 'vocab id above 2^31 (a u32)', base: 'bpe', edit: (j) => { j.model.vocab.w = 3_000_000_000; }, field: 'vocab',
    divergent: 'crossrank ids are int32 (Int32Array, ONNX int64 inputs built from them); a vocabulary of 3e9 ids does not exist',
  },
  { name: 'vocab id past 2^32', base: 'bpe', edit: (j) => { j.model.vocab.w = 2 ** 32 + 9; }, field: 'vocab' },
  { name: 'vocab as a list (BPE)', base: 'bpe', edit: (j) => { j.model.vocab = Object.keys(j.model.vocab); }, field: 'vocab' },
  { name: 'vocab missing (WordPiece)', base: 'wordpiece', edit: (j) => drop(j.model, 'vocab'), field: 'vocab' },
  { name: 'duplicate ids (two tokens, one id)', base: 'wordpiece', edit: (j) => { j.model.vocab.world = 4; } },
  { name: 'sparse ids (a hole of a billion)', base: 'wordpiece', edit: (j) => { j.model.vocab.world = 1_000_000_000; } },
  { name: 'WordPiece unk_token missing', base: 'wordpiece', edit: (j) => drop(j.model, 'unk_token'), field: 'unk_token' },
  { name: 'WordPiece max_input_chars_per_word missing', base: 'wordpiece', edit: (j) => drop(j.model, 'max_input_chars_per_word'), field: 'max_input_chars_per_word' },
  { name: 'WordPiece unk_token not in the vocabulary', base: 'wordpiece', edit: (j) => { j.model.unk_token = '[NOPE]'; } },
  { name: 'Unigram unk_id out of range', base: 'unigram', edit: (j) => { j.model.unk_id = 99; }, field: 'unk_id' },
  { name: 'Unigram unk_id negative', base: 'unigram', edit: (j) => { j.model.unk_id = -1; }, field: 'unk_id' },
  { name: 'Unigram without unk_id', base: 'unigram', edit: (j) => drop(j.model, 'unk_id') },
  { name: 'Unigram piece without a score', base: 'unigram', edit: (j) => { j.model.vocab[4] = ['h']; }, field: 'vocab' },
  { name: 'Unigram score as a string', base: 'unigram', edit: (j) => { j.model.vocab[4] = ['h', '-5']; }, field: 'vocab' },
  { name: 'Unigram duplicate pieces', base: 'unigram', edit: (j) => { j.model.vocab.push(['▁hello', -1]); } },
  { name: 'Unigram empty vocabulary with unk_id', base: 'unigram', edit: (j) => { j.model.vocab = []; j.added_tokens = []; j.post_processor = null; }, field: 'vocab' },
  // model type
  { name: 'WordPiece without model.type (inferred)', base: 'wordpiece', edit: (j) => drop(j.model, 'type') },
  { name: 'BPE without model.type (inferred)', base: 'bpe', edit: (j) => drop(j.model, 'type') },
  { name: 'Unigram without model.type (inferred)', base: 'unigram', edit: (j) => drop(j.model, 'type') },
  { name: 'no model.type, WordPiece fields incomplete: WordLevel', base: 'wordpiece', edit: (j) => { drop(j.model, 'type'); drop(j.model, 'max_input_chars_per_word'); } },
  { name: 'no model.type, BPE merges as an object: WordLevel', base: 'bpe', edit: (j) => { drop(j.model, 'type'); j.model.merges = {}; } },
  { name: 'WordLevel model', base: 'wordpiece', edit: (j) => { j.model = { type: 'WordLevel', vocab: j.model.vocab, unk_token: '[UNK]' }; } },
  { name: 'unknown model type', base: 'bpe', edit: (j) => { j.model.type = 'Fancy'; }, field: 'type' },
  { name: 'model type of another model', base: 'unigram', edit: (j) => { j.model.type = 'BPE'; }, field: 'model' },
  { name: 'no model', base: 'bpe', edit: (j) => drop(j, 'model'), field: 'model' },
  // components
  { name: 'unknown normalizer', base: 'wordpiece', edit: (j) => { j.normalizer = { type: 'FancyNormalizer' }; }, field: 'normalizer' },
  { name: 'normalizer without type', base: 'wordpiece', edit: (j) => { j.normalizer = { lowercase: true }; }, field: 'normalizer' },
  { name: 'unknown pre_tokenizer', base: 'bpe', edit: (j) => { j.pre_tokenizer = { type: 'Fancy' }; }, field: 'pre_tokenizer' },
  { name: 'unknown post_processor', base: 'bpe', edit: (j) => { j.post_processor = { type: 'Fancy' }; }, field: 'post_processor' },
  { name: 'unknown decoder', base: 'unigram', edit: (j) => { j.decoder = { type: 'Fancy' }; }, field: 'decoder' },
  {
    name: 'template naming a missing special token', base: 'wordpiece', edit: (j) => { delete j.post_processor.special_tokens['[SEP]']; }, field: 'post_processor',
    divergent: 'Hugging Face loads it, then aborts the whole process (a Rust panic across the N-API boundary) on the first encode',
  },
  { name: 'Sequence normalizer 20 deep', base: 'wordpiece', text: () => nested(20) },
  { name: 'Sequence normalizer 100 000 deep', base: 'wordpiece', text: () => nested(100_000), field: 'nest' },
  // added tokens
  { name: 'added token id out of range', base: 'wordpiece', edit: (j) => { j.added_tokens.push({ ...special(999, '[EXTRA]'), special: false }); } },
  { name: 'added token id taken by another token', base: 'wordpiece', edit: (j) => { j.added_tokens.push({ ...special(4, '[EXTRA]'), special: true }); } },
  { name: 'added token in the vocabulary under another id', base: 'wordpiece', edit: (j) => { j.added_tokens[1].id = 7; } },
  { name: 'added token without id', base: 'wordpiece', edit: (j) => { drop(j.added_tokens[0], 'id'); }, field: 'added_tokens' },
  { name: 'added token without content', base: 'wordpiece', edit: (j) => { drop(j.added_tokens[0], 'content'); }, field: 'added_tokens' },
  { name: 'added token with empty content', base: 'wordpiece', edit: (j) => { j.added_tokens.push(special(20, '')); } },
  { name: 'added_tokens not a list', base: 'wordpiece', edit: (j) => { j.added_tokens = {}; }, field: 'added_tokens' },
  // file-level fields
  { name: 'unknown version', base: 'bpe', edit: (j) => { j.version = '2.0'; }, field: 'version' },
  { name: 'unknown top-level key', base: 'bpe', edit: (j) => { j.extra = { anything: 1 }; }, field: 'extra' },
  { name: 'truncation max_length 0, stride 5', base: 'wordpiece', edit: (j) => { j.truncation = { direction: 'Right', max_length: 0, strategy: 'LongestFirst', stride: 5 }; } },
  { name: 'truncation strategy unknown', base: 'wordpiece', edit: (j) => { j.truncation = { direction: 'Right', max_length: 8, strategy: 'Middle', stride: 0 }; }, field: 'truncation' },
  { name: 'truncation without max_length', base: 'wordpiece', edit: (j) => { j.truncation = { direction: 'Right', strategy: 'LongestFirst', stride: 0 }; }, field: 'truncation' },
  { name: 'not an object', base: 'bpe', text: () => '[1, 2, 3]', field: 'tokenizer' },
];

/** The accept/refuse decision of each side; for accepted files, encodings of a few inputs. */
async function oracle(text: string): Promise<{ ok: true; tok: InstanceType<typeof hf.Tokenizer> } | { ok: false; message: string }> {
  try {
    return { ok: true, tok: hf.Tokenizer.fromString(text) };
  } catch (e) {
    return { ok: false, message: String(e) };
  }
}

const INPUTS: [string, string | null][] = [
  ['hello world', null],
  ['Hello, worlds!', 'reranking rank'],
  ['hello xyz [EXTRA] world', 'hellorank'],
  ['', 'hello'],
];

function textOf(v: Variant): string {
  if (v.text) return v.text();
  const j = BASES[v.base]();
  v.edit?.(j);
  return JSON.stringify(j);
}

describe('tokenizer.json validation: the same accept/refuse decision as Hugging Face tokenizers', () => {
  for (const v of VARIANTS) {
    it(v.name, async () => {
      const text = textOf(v);
      const ref = await oracle(text);
      let ours: Tokenizer | null = null;
      let err: (Error & { code?: string }) | null = null;
      try {
        ours = Tokenizer.fromJSON(text, `${v.name}.json`);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      if (v.divergent) {
        expect(ref.ok, `Hugging Face loads this file (${v.divergent})`).toBe(true);
        expect(err).toBeInstanceOf(CrossrankError);
        expect(err!.code).toMatch(/^ERR_TOKENIZER_(CONFIG|UNSUPPORTED)$/);
        expect(err!.message).toContain(v.field!);
        return;
      }
      if (!ref.ok) {
        expect(err, `Hugging Face refuses (${ref.message.slice(0, 200)}); crossrank must too`).not.toBeNull();
        expect(err).toBeInstanceOf(CrossrankError);
        expect(err!.code).toMatch(/^ERR_TOKENIZER_(CONFIG|JSON|UNSUPPORTED)$/);
        expect(err!.message).toContain(`${v.name}.json`);
        expect(v.field, 'a refused variant names the field its message must contain').toBeDefined();
        expect(err!.message).toContain(v.field!);
        return;
      }
      expect(err?.message ?? '', 'Hugging Face accepts this file; crossrank must too').toBe('');
      expect(v.field).toBeUndefined();
      expect(ours!.vocabSize).toBe(ref.tok.getVocabSize(true));
      ref.tok.disableTruncation();
      for (const [a, b] of INPUTS) {
        const h = await ref.tok.encode(a, b ?? undefined).then((e) => e.getIds(), (e) => `error: ${String(e)}`);
        let m: number[] | string;
        try {
          m = Array.from(ours!.encode(a, b, { truncation: false }).ids);
        } catch (e) {
          m = `error: ${(e as Error).message}`;
        }
        if (typeof h === 'string') expect(typeof m, `${a} / ${b}: Hugging Face fails (${h})`).toBe('string');
        else expect(m, `${a} / ${b}`).toEqual(h);
      }
    });
  }

  it('a truncation block with max_length 0 loads; encoding with it is a typed error naming the file\'s field', () => {
    const j = wordpiece();
    j.truncation = { direction: 'Right', max_length: 0, strategy: 'LongestFirst', stride: 5 };
    const t = Tokenizer.fromJSON(JSON.stringify(j));
    expect(t.truncation).toEqual({ maxLength: 0, strategy: 'longest_first', stride: 5, direction: 'right' });
    const e = errorOf(() => t.encode('hello world', 'rank'));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_OUT_OF_RANGE');
    expect(e.message).toContain('truncation.max_length of tokenizer.json');
    j.truncation.max_length = 4;
    const e2 = errorOf(() => Tokenizer.fromJSON(JSON.stringify(j)).encode('hello world', 'rank'));
    expect(e2.code).toBe('ERR_OUT_OF_RANGE');
    expect(e2.message).toContain('truncation.stride of tokenizer.json');
    // An explicit maxLength replaces the file's block.
    expect(Array.from(Tokenizer.fromJSON(JSON.stringify(j)).encode('hello world', 'rank', { maxLength: 8 }).ids)).toEqual([2, 4, 5, 3, 10, 3]);
  });

  it('the table covers refusals and acceptances of every model type', () => {
    const refused = VARIANTS.filter((v) => v.field).length;
    expect(refused).toBeGreaterThanOrEqual(30);
    expect(VARIANTS.length - refused).toBeGreaterThanOrEqual(15);
  });
});

describe('tokenizer files that are not files', () => {
  it('refuses a device, a directory and a FIFO without reading them', () => {
    const d = mkdtempSync(join(tmpdir(), 'crossrank-tokfile-'));
    const fifo = join(d, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    for (const p of ['/dev/zero', d, fifo]) {
      const e = errorOf(() => Tokenizer.fromFile(p));
      expect(e).toBeInstanceOf(CrossrankError);
      expect(e.code).toBe('ERR_TOKENIZER_FILE');
      expect(e.message).toContain(p);
    }
    writeFileSync(join(d, 'ok.json'), JSON.stringify(wordpiece()));
    expect(Tokenizer.fromFile(join(d, 'ok.json')).vocabSize).toBe(13);
  });
});
