// Writes the committed seed corpora of the fuzz targets (test/native/fuzz/corpus/<target>/): small
// tokenizer.json files of every model and component kind, texts, and BM25 / FAISS index files saved
// by crossrank itself. Run after `npm run build`: node test/native/fuzz/make-seeds.mjs
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const { Bm25Index, FaissIndex } = await import(join(root, 'dist/index.js'));

function corpus(target, files) {
  const dir = join(here, 'corpus', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
}

// --- texts (tok_encode, tok_pair: FuzzedDataProvider reads the options from the end) -----------
const texts = {
  ascii: 'Hello, world! The quick brown fox jumps over the lazy dog.',
  mixed: 'naïve café Ünïcödé — 日本語のテキスト 한국어 العربية \u{1F600}\u{1F469}\u{200D}\u{1F4BB}',
  specials: '[CLS] a [SEP] b [MASK] <s> x </s> <pad> <|begin_of_text|> <|im_start|>user<|im_end|> <unk>',
  spaces: '  leading\ttabs\nnew lines\r\n  and   runs    of spaces \u00a0\u3000 ',
  digits: '3.14159 1,000,000 2024-01-01 0x1F 12345678901234567890',
  punct: "don't it's we'll ((nested)) \"quoted\" --dashes-- ...ellipsis!!! ?¿",
  long: 'supercalifragilisticexpialidocious antidisestablishmentarianism ' + 'pneumono'.repeat(20),
  combining: 'e\u0301 a\u0300\u0301\u0302 \u1100\u1161\u11a8 \u0928\u093f \ufb01 \u2126 \u212b',
};
const invalid = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x00, 0x63]);
corpus('tok_encode', { ...Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, v + '\x03\x01\x05'])), invalid });
corpus('tok_pair', {
  ...Object.fromEntries(Object.entries(texts).map(([k, v], i) => [k, `${v}\\${texts.ascii}\x01\x07\x10\x03${String.fromCharCode(i)}\x02\x01\x01\x04`])),
  invalid,
});

// --- tokenizer.json (tok_load) -----------------------------------------------------------------
const added = (list) => list.map(([id, content, special = true]) =>
  ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special }));
const tpl = (cls, sep) => ({
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: cls, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } }],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
    { SpecialToken: { id: sep, type_id: 1 } }],
  special_tokens: { [cls]: { id: cls, ids: [2], tokens: [cls] }, [sep]: { id: sep, ids: [3], tokens: [sep] } },
});
const wpVocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'quick', 'brown', 'fox', 'hello', 'world', ',', '!', '.',
  'a', 'b', 'c', 'e', 'h', 'l', 'o', 'r', 'w', '##s', '##ing', '##ed', '##l', '##o', '##d', 'na', '##ive', 'caf', '##e'];
const bytesVocab = ['<s>', '<pad>', '</s>', '<unk>', 'h', 'e', 'l', 'o', 'Ġ', 'w', 'r', 'd', ',', '!', 'he', 'll', 'hell', 'hello',
  'Ġw', 'Ġwor', 'Ġworld', 'or', 'ld', 'Ã', '¯', 'Ċ', 'ĉ'];
const bpeMerges = ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'l d', 'Ġwor ld'];
const splitRegex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const json = (o) => JSON.stringify(o, null, 1);
const tokenizers = {
  wordpiece: {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added([[0, '[PAD]'], [1, '[UNK]'], [2, '[CLS]'], [3, '[SEP]'], [4, '[MASK]']]),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: tpl('[CLS]', '[SEP]'),
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
      vocab: Object.fromEntries(wpVocab.map((t, i) => [t, i])) },
  },
  'wordpiece-bertprocessing': {
    version: '1.0',
    truncation: { direction: 'Left', max_length: 8, strategy: 'OnlySecond', stride: 2 },
    padding: null,
    added_tokens: added([[2, '[CLS]'], [3, '[SEP]'], [30, 'brown fox', false]]),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' },
      { type: 'Replace', pattern: { String: '!' }, content: '.' }, { type: 'Strip', strip_left: true, strip_right: true }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' },
      { type: 'Digits', individual_digits: true }] },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
    decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 5,
      vocab: Object.fromEntries(wpVocab.map((t, i) => [t, i])) },
  },
  'bpe-roberta-old': {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added([[0, '<s>'], [1, '<pad>'], [2, '</s>'], [3, '<unk>']]),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true },
    model: { dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      vocab: Object.fromEntries(bytesVocab.map((t, i) => [t, i])), merges: bpeMerges },
  },
  'bpe-llama3': {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added([[0, '<|begin_of_text|>'], [2, '<|end_of_text|>']]),
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: splitRegex }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [0], tokens: ['<|begin_of_text|>'] } } }] },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false,
      byte_fallback: false, ignore_merges: true, vocab: Object.fromEntries(bytesVocab.map((t, i) => [t, i])), merges: bpeMerges },
  },
  'bpe-qwen-pairs': {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added([[1, '<|im_start|>'], [3, '<|im_end|>']]),
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+' },
      behavior: 'Removed', invert: true }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab: Object.fromEntries(bytesVocab.map((t, i) => [t, i])),
      merges: bpeMerges.map((m) => m.split(' ')) },
  },
  'bpe-bytefallback': {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added([[0, '<unk>'], [1, '<s>'], [2, '</s>']]),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } }], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' },
      { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true,
      byte_fallback: true, vocab: Object.fromEntries(['<unk>', '<s>', '</s>', '<0x00>', '<0x41>', '<0xC3>', '<0xA9>', '▁', 'h', 'e', 'l', 'o',
        '▁h', 'll', '▁he', '▁hell', '▁hello'].map((t, i) => [t, i])), merges: ['▁ h', 'l l', '▁h e', '▁he ll', '▁hell o'] },
  },
  unigram: {
    version: '1.0',
    truncation: { direction: 'Right', max_length: 16, strategy: 'LongestFirst', stride: 0 },
    padding: null,
    added_tokens: added([[0, '<pad>'], [1, '</s>'], [2, '<unk>']]),
    normalizer: { type: 'Precompiled', precompiled_charsmap: Buffer.from([4, 0, 0, 0, 0, 0, 0, 0, 0x61, 0]).toString('base64') },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
      { type: 'Metaspace', replacement: '▁', str_rep: '▁', add_prefix_space: true }] },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } }], special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } } },
    decoder: { type: 'Metaspace', replacement: '▁', str_rep: '▁', add_prefix_space: true },
    model: { unk_id: 2, vocab: [['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -2.5], ['▁the', -3.1], ['▁hello', -8.2], ['he', -7.0],
      ['llo', -7.5], ['h', -9], ['e', -9], ['l', -9], ['o', -9], ['▁w', -8], ['orld', -9.5], ['s', -6], ['.', -4]] },
  },
  'unigram-bytefallback': {
    version: '1.0',
    truncation: null,
    padding: { strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '<pad>' },
    added_tokens: added([[0, '<pad>'], [1, '<unk>']]),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    model: { type: 'Unigram', unk_id: 1, byte_fallback: true, vocab: [['<pad>', 0], ['<unk>', 0], ['<0x41>', -10], ['<0xC3>', -10],
      ['▁', -2], ['▁a', -3], ['b', -4], ['ab', -3.5], ['c', -5]] },
  },
  wordlevel: {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added([[0, '[UNK]'], [1, '[CLS]'], [2, '[SEP]']]),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'CharDelimiterSplit', delimiter: '-' },
      { type: 'Split', pattern: { String: ',' }, behavior: 'MergedWithPrevious', invert: false }] },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] },
    decoder: { type: 'BPEDecoder', suffix: '</w>' },
    model: { type: 'WordLevel', unk_token: '[UNK]', vocab: Object.fromEntries(['[UNK]', '[CLS]', '[SEP]', 'hello', 'world', ',', '!', 'the']
      .map((t, i) => [t, i])) },
  },
};
corpus('tok_load', Object.fromEntries(Object.entries(tokenizers).map(([k, v]) => [`${k}.json`, json(v)])));

// --- BM25 index files ----------------------------------------------------------------------------
const tmp = join(root, 'build', 'fuzz-seeds');
mkdirSync(tmp, { recursive: true });
const docs = ['supersonic flow over a flat plate', 'the boundary layer separates', 'flow flow flow', '',
  'Heat transfer in laminar boundary layers', 'the of and a'];
const bm25 = {};
for (const [name, opts, remove] of [['porter', {}, []], ['english-nostop', { stemmer: 'english', stopwords: false }, [1, 3]],
  ['none', { stemmer: 'none', k1: 1.2, b: 0.75 }, [0]]]) {
  const idx = Bm25Index.create(opts);
  await idx.add(docs);
  if (remove.length) await idx.remove(remove);
  const p = join(tmp, `${name}.bm25`);
  await idx.save(p);
  bm25[`${name}.bm25`] = readFileSync(p);
}
const empty = Bm25Index.create();
await empty.save(join(tmp, 'empty.bm25'));
bm25['empty.bm25'] = readFileSync(join(tmp, 'empty.bm25'));
corpus('bm25_load', bm25);

// --- FAISS index files ---------------------------------------------------------------------------
const faiss = {};
const dim = 4;
const vectors = (n) => new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.7) + (i % 3) * 0.1);
for (const [name, factory, metric, n, train] of [['flat', 'Flat', 'l2', 6, 0], ['flat-ip', 'Flat', 'ip', 4, 0],
  ['ivf-flat', 'IVF2,Flat', 'l2', 8, 40], ['hnsw', 'HNSW4', 'l2', 8, 0], ['pq', 'PQ2x4', 'l2', 6, 64],
  ['ivf-pq', 'IVF2,PQ2x4', 'ip', 6, 64], ['sq8', 'SQ8', 'l2', 5, 20], ['idmap-flat', 'IDMap,Flat', 'l2', 3, 0]]) {
  const idx = FaissIndex.create(dim, factory, { metric });
  if (train) await idx.train(vectors(train));
  await idx.add(vectors(n));
  const p = join(tmp, `${name}.faiss`);
  await idx.save(p);
  faiss[`${name}.faiss`] = readFileSync(p);
}
corpus('faiss_load', faiss);
rmSync(tmp, { recursive: true, force: true });
console.log('seeds written under', join(here, 'corpus'));
