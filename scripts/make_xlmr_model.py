#!/usr/bin/python3
"""Build an XLM-RoBERTa-shaped sequence-classification model with seeded random weights, for
testing a reranker path without trained weights (the shape of bge-reranker-v2-m3, jina-reranker-v2).

  make_xlmr_model.py OUT_DIR --tokenizer T5_UNIGRAM_TOKENIZER_JSON [--quant] [--layers 2 --hidden 32 ...]

What makes it XLM-R rather than BERT (as XLMRobertaForSequenceClassification and its ONNX export):
- inputs input_ids and attention_mask only: no token_type_ids (type_vocab_size 1, its one row is
  added to every position);
- position ids from the mask with the padding offset: padding_idx + cumsum(mask) * mask, so real
  tokens take positions padding_idx + 1, padding_idx + 2, ... and pads take padding_idx;
- LayerNorm eps 1e-5; the RobertaClassificationHead: dense + tanh on the <s> token, then out_proj.
The tokenizer is a SentencePiece Unigram in XLM-R's layout (<s>=0, <pad>=1, </s>=2, <unk>=3, the
pieces, <mask> last; "<s> A </s></s> B </s>", every type id 0), made from a T5 Unigram
tokenizer.json (pieces, scores and Precompiled normalizer kept).

Writes OUT_DIR/{config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
onnx/model.onnx or onnx/model_quantized.onnx}. Needs Debian's python3-onnx and python3-numpy.
"""
import json

import numpy as np
from onnx import TensorProto, helper

from onnx_graph import Graph, labels, parser, write_model

PAD = 1  # padding_idx of XLM-R


def xlmr_tokenizer(t5_path):
    t5 = json.load(open(t5_path, encoding='utf-8'))
    model = t5['model']
    pieces = [p for p in model['vocab'] if not p[0].startswith('<')]  # drop <pad> </s> <unk> <extra_id_*>
    vocab = [['<s>', 0.0], ['<pad>', 0.0], ['</s>', 0.0], ['<unk>', 0.0]] + pieces + [['<mask>', 0.0]]

    def added(i, content, lstrip=False):
        return {'id': i, 'content': content, 'single_word': False, 'lstrip': lstrip, 'rstrip': False,
                'normalized': False, 'special': True}

    def special(name, type_id=0):
        return {'SpecialToken': {'id': name, 'type_id': type_id}}

    def seq(name):
        return {'Sequence': {'id': name, 'type_id': 0}}

    mask = len(vocab) - 1
    tok = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [added(0, '<s>'), added(1, '<pad>'), added(2, '</s>'), added(3, '<unk>'), added(mask, '<mask>', True)],
        'normalizer': t5['normalizer'],
        'pre_tokenizer': {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'always', 'split': True},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [special('<s>'), seq('A'), special('</s>')],
            'pair': [special('<s>'), seq('A'), special('</s>'), special('</s>'), seq('B'), special('</s>')],
            'special_tokens': {
                '<s>': {'id': '<s>', 'ids': [0], 'tokens': ['<s>']},
                '</s>': {'id': '</s>', 'ids': [2], 'tokens': ['</s>']},
            },
        },
        'decoder': {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'always', 'split': True},
        'model': {'type': 'Unigram', 'unk_id': 3, 'vocab': vocab, 'byte_fallback': False},
    }
    return tok, len(vocab)


def init_weights(a, vocab, rng):
    H, F, P = a.hidden, a.ffn, a.maxpos + PAD + 1
    s = a.std
    w = {'word': rng.normal(0, 0.5, (vocab, H)), 'pos': rng.normal(0, 0.5, (P, H)), 'type': rng.normal(0, 0.5, (1, H)),
         'emb_g': 1 + rng.normal(0, 0.1, H), 'emb_b': rng.normal(0, 0.1, H)}
    for l in range(a.layers):
        for n, shp in [('q', (H, H)), ('k', (H, H)), ('v', (H, H)), ('o', (H, H)), ('f1', (H, F)), ('f2', (F, H))]:
            w[f'{l}.{n}.w'] = rng.normal(0, s, shp)
            w[f'{l}.{n}.b'] = rng.normal(0, s, shp[1])
        for n in ('ln1', 'ln2'):
            w[f'{l}.{n}.g'] = 1 + rng.normal(0, 0.1, H)
            w[f'{l}.{n}.b'] = rng.normal(0, 0.1, H)
    w['dense.w'] = rng.normal(0, s * 4, (H, H))
    w['dense.b'] = rng.normal(0, s, H)
    w['out.w'] = rng.normal(0, 1.0, (H, a.labels))
    w['out.b'] = rng.normal(0, 0.1, a.labels)
    return {k: v.astype(np.float32) for k, v in w.items()}


def build(a, w):
    H, heads = a.hidden, a.heads
    dh = H // heads
    g = Graph(a.quant)
    one_f = g.const('one_f', np.array(1.0, np.float32))
    # Position ids: padding_idx + cumsum(mask) * mask.
    mask = 'attention_mask'
    pos = g.op('Add', [g.op('Mul', [g.op('CumSum', [mask, g.const('axis1', np.array(1, np.int64))]), mask]),
                       g.const('pad_idx', np.array(PAD, np.int64))])
    x = g.op('Add', [g.op('Gather', [g.const('word', w['word']), 'input_ids'], axis=0),
                     g.op('Gather', [g.const('pos', w['pos']), pos], axis=0)])
    x = g.op('Add', [x, g.const('type0', w['type'][0])])
    x = g.layer_norm(x, w['emb_g'], w['emb_b'], 'emb', eps=1e-5)
    bias = g.op('Unsqueeze', [g.op('Cast', [mask], to=TensorProto.FLOAT), g.const('ax12', np.array([1, 2], np.int64))])
    bias = g.op('Mul', [g.op('Sub', [one_f, bias]), g.const('neg', np.array(np.finfo(np.float32).min, np.float32))])
    bshd = g.const('bshd', np.array([0, 0, heads, dh], np.int64))
    bsH = g.const('bsH', np.array([0, 0, H], np.int64))
    scale = g.const('scale', np.array(1.0 / np.sqrt(dh), np.float32))
    half = g.const('half', np.array(0.5, np.float32))
    rsqrt2 = g.const('rsqrt2', np.array(1 / np.sqrt(2), np.float32))

    def heads_of(t):
        return g.op('Transpose', [g.op('Reshape', [t, bshd])], perm=[0, 2, 1, 3])

    for l in range(a.layers):
        p = lambda n: (w[f'{l}.{n}.w'], w[f'{l}.{n}.b'], f'l{l}.{n}')
        q, k, v = (heads_of(g.linear(x, *p(n))) for n in ('q', 'k', 'v'))
        att = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], perm=[0, 1, 3, 2])]), scale]), bias])
        ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [g.op('Softmax', [att], axis=-1), v])], perm=[0, 2, 1, 3]), bsH])
        x = g.layer_norm(g.op('Add', [x, g.linear(ctx, *p('o'))]), w[f'{l}.ln1.g'], w[f'{l}.ln1.b'], f'l{l}.ln1', eps=1e-5)
        h = g.linear(x, *p('f1'))
        h = g.op('Mul', [g.op('Mul', [h, half]), g.op('Add', [g.op('Erf', [g.op('Mul', [h, rsqrt2])]), one_f])])
        x = g.layer_norm(g.op('Add', [x, g.linear(h, *p('f2'))]), w[f'{l}.ln2.g'], w[f'{l}.ln2.b'], f'l{l}.ln2', eps=1e-5)
    # RobertaClassificationHead: <s> -> dense -> tanh -> out_proj.
    first = g.op('Gather', [x, g.const('zero', np.array(0, np.int64))], axis=1)
    hid = g.op('Tanh', [g.linear(first, w['dense.w'], w['dense.b'], 'head.dense')])
    g.nodes.append(helper.make_node('Add', [g.op('MatMul', [hid, g.const('head.out.w', w['out.w'])]),
                                            g.const('head.out.b', w['out.b'])], ['logits']))
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ['batch', 'seq']) for n in ('input_ids', 'attention_mask')]
    outs = [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', a.labels])]
    return g.finish('xlmr_cross', ins, outs, 'crossrank-make-xlmr')


def main():
    ap = parser(__doc__, 'a T5 Unigram tokenizer.json to take the pieces from',
                layers=2, hidden=32, heads=2, ffn=64, labels=1, seed=11)
    ap.add_argument('--maxpos', type=int, default=512, help='longest input; max_position_embeddings is this + 2')
    a = ap.parse_args()
    tok, vocab = xlmr_tokenizer(a.tokenizer)
    w = init_weights(a, vocab, np.random.default_rng(a.seed))
    specials = {'bos_token': '<s>', 'eos_token': '</s>', 'sep_token': '</s>', 'cls_token': '<s>',
                'unk_token': '<unk>', 'pad_token': '<pad>', 'mask_token': '<mask>'}
    write_model(a.out, a.quant, build(a, w), {
        'tokenizer.json': tok,
        'tokenizer_config.json': {'tokenizer_class': 'XLMRobertaTokenizer', 'model_max_length': a.maxpos, **specials},
        'special_tokens_map.json': specials,
        'config.json': {
            'architectures': ['XLMRobertaForSequenceClassification'], 'model_type': 'xlm-roberta',
            'hidden_size': a.hidden, 'num_hidden_layers': a.layers, 'num_attention_heads': a.heads,
            'intermediate_size': a.ffn, 'hidden_act': 'gelu', 'max_position_embeddings': a.maxpos + PAD + 1,
            'type_vocab_size': 1, 'vocab_size': vocab, 'layer_norm_eps': 1e-5, 'pad_token_id': PAD,
            'bos_token_id': 0, 'eos_token_id': 2, **labels(a.labels)},
    })


if __name__ == '__main__':
    main()
