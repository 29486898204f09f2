#!/usr/bin/python3
"""Build a ModernBERT-shaped sequence-classification model with seeded random weights (the shape of
gte-reranker-modernbert-base), for testing a reranker path without trained weights.

  make_modernbert_model.py OUT_DIR --tokenizer ROBERTA_BPE_TOKENIZER_JSON [--quant] [--layers 3 ...]

What makes it ModernBERT (as ModernBertForSequenceClassification and its ONNX export):
- inputs input_ids and attention_mask only; no position embeddings: rotary embeddings on q and k
  (rotate-half form, positions 0..S-1), theta 160 000 in global layers, 10 000 in local ones;
- alternating attention: every third layer (0, 3, ...) global, the others local, each token seeing
  the tokens within local_attention / 2 positions (and never padding);
- pre-norm layers (the first without attention norm), LayerNorms without bias, no biases in the
  linear layers, a GeGLU feed-forward (Wi -> [input, gate] -> gelu(input) * gate -> Wo), a final norm;
- the head: pooling (mean over the mask, or the first token), dense -> gelu -> LayerNorm, classifier.
The tokenizer is byte-level BPE with a "[CLS] A [SEP] B [SEP]" template, every type id 0 (the
layout of ModernBERT's), made from a RoBERTa byte-level BPE tokenizer.json whose <s> and </s>
stand for [CLS] and [SEP].

Writes OUT_DIR/{config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
onnx/model.onnx or onnx/model_quantized.onnx}. Needs Debian's python3-onnx and python3-numpy.
"""
import json

import numpy as np
from onnx import TensorProto, helper

from onnx_graph import Graph, labels, parser, write_model


def modernbert_tokenizer(roberta_path):
    tok = json.load(open(roberta_path, encoding='utf-8'))

    def special(name):
        return {'SpecialToken': {'id': name, 'type_id': 0}}

    def seq(name):
        return {'Sequence': {'id': name, 'type_id': 0}}

    vocab = tok['model']['vocab']
    tok['post_processor'] = {
        'type': 'TemplateProcessing',
        'single': [special('<s>'), seq('A'), special('</s>')],
        'pair': [special('<s>'), seq('A'), special('</s>'), seq('B'), special('</s>')],
        'special_tokens': {n: {'id': n, 'ids': [vocab[n]], 'tokens': [n]} for n in ('<s>', '</s>')},
    }
    tok['padding'] = None
    tok['truncation'] = None
    return tok, len(vocab), vocab['<pad>']


def init_weights(a, vocab, rng):
    H, F, s = a.hidden, a.ffn, a.std
    w = {'emb': rng.normal(0, 0.5, (vocab, H)), 'emb_g': 1 + rng.normal(0, 0.1, H),
         'final_g': 1 + rng.normal(0, 0.1, H)}
    for l in range(a.layers):
        w[f'{l}.qkv'] = rng.normal(0, s, (H, 3 * H))
        w[f'{l}.o'] = rng.normal(0, s, (H, H))
        w[f'{l}.wi'] = rng.normal(0, s, (H, 2 * F))
        w[f'{l}.wo'] = rng.normal(0, s, (F, H))
        w[f'{l}.attn_g'] = 1 + rng.normal(0, 0.1, H)
        w[f'{l}.mlp_g'] = 1 + rng.normal(0, 0.1, H)
    w['head.w'] = rng.normal(0, s * 4, (H, H))
    w['head_g'] = 1 + rng.normal(0, 0.1, H)
    w['cls.w'] = rng.normal(0, 1.0, (H, a.labels))
    w['cls.b'] = rng.normal(0, 0.1, a.labels)
    return {k: v.astype(np.float32) for k, v in w.items()}


def build(a, w):
    H, heads, eps = a.hidden, a.heads, 1e-5
    dh = H // heads
    g = Graph(a.quant)
    i64 = lambda v: np.array(v, np.int64)
    one_f = g.const('one_f', np.array(1.0, np.float32))
    half = g.const('half', np.array(0.5, np.float32))
    rsqrt2 = g.const('rsqrt2', np.array(1 / np.sqrt(2), np.float32))

    def gelu(t):
        return g.op('Mul', [g.op('Mul', [t, half]), g.op('Add', [g.op('Erf', [g.op('Mul', [t, rsqrt2])]), one_f])])

    # Positions 0..S-1 and the two rotary tables, [S, dh] each (cos and sin of cat(freqs, freqs)).
    seq = g.op('Gather', [g.op('Shape', ['input_ids']), g.const('one_i', i64(1))], axis=0)
    idx = g.op('Range', [g.const('zero_i', i64(0)), seq, 'one_i'])
    posf = g.op('Unsqueeze', [g.op('Cast', [idx], to=TensorProto.FLOAT), g.const('ax1', i64([1]))])
    rope = {}
    for kind, theta in (('global', 160000.0), ('local', 10000.0)):
        inv = 1.0 / theta ** (np.arange(0, dh, 2, dtype=np.float64) / dh)
        freqs = g.op('Mul', [posf, g.const(f'{kind}.inv_freq', inv.astype(np.float32)[None, :])])
        emb = g.op('Concat', [freqs, freqs], axis=-1)
        rope[kind] = (g.op('Cos', [emb]), g.op('Sin', [emb]))
    # Attention biases [B, 1, S, S]: padding for global layers; padding and the window for local.
    keys = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], to=TensorProto.BOOL), g.const('ax12', i64([1, 2]))])
    dist = g.op('Abs', [g.op('Sub', [g.op('Unsqueeze', [idx, 'ax1']), g.op('Unsqueeze', [idx, g.const('ax0', i64([0]))])])])
    window = g.op('LessOrEqual', [dist, g.const('half_window', i64(a.local_attention // 2))])
    zero_f = g.const('zero_f', np.array(0.0, np.float32))
    neg = g.const('neg', np.array(np.finfo(np.float32).min, np.float32))
    bias = {'global': g.op('Where', [keys, zero_f, neg]),
            'local': g.op('Where', [g.op('And', [keys, window]), zero_f, neg])}
    bshd = g.const('bs3hd', i64([0, 0, 3, heads, dh]))
    bsH = g.const('bsH', i64([0, 0, H]))
    scale = g.const('scale', np.array(1.0 / np.sqrt(dh), np.float32))
    halves = g.const('halves', i64([dh // 2, dh // 2]))

    def rotate(t, cos, sin):
        x1, x2 = (f'{t}.half{k}' for k in (1, 2))
        g.nodes.append(helper.make_node('Split', [t, halves], [x1, x2], axis=-1))
        rot = g.op('Concat', [g.op('Neg', [x2]), x1], axis=-1)
        return g.op('Add', [g.op('Mul', [t, cos]), g.op('Mul', [rot, sin])])

    x = g.layer_norm(g.op('Gather', [g.const('emb', w['emb']), 'input_ids'], axis=0), w['emb_g'], None, 'emb_norm', eps)
    for l in range(a.layers):
        kind = 'global' if l % a.global_every == 0 else 'local'
        h = x if l == 0 else g.layer_norm(x, w[f'{l}.attn_g'], None, f'l{l}.attn_norm', eps)
        qkv = g.op('Transpose', [g.op('Reshape', [g.linear_nobias(h, w[f'{l}.qkv'], f'l{l}.qkv'), bshd])], perm=[2, 0, 3, 1, 4])
        q, k, v = (g.op('Squeeze', [g.op('Gather', [qkv, g.const(f'l{l}.pick{j}', i64([j]))], axis=0), 'ax0']) for j in range(3))
        q, k = (rotate(t, *rope[kind]) for t in (q, k))
        att = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], perm=[0, 1, 3, 2])]), scale]), bias[kind]])
        ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [g.op('Softmax', [att], axis=-1), v])], perm=[0, 2, 1, 3]), bsH])
        x = g.op('Add', [x, g.linear_nobias(ctx, w[f'{l}.o'], f'l{l}.o')])
        h = g.layer_norm(x, w[f'{l}.mlp_g'], None, f'l{l}.mlp_norm', eps)
        inp, gate = f'l{l}.input', f'l{l}.gate'
        g.nodes.append(helper.make_node('Split', [g.linear_nobias(h, w[f'{l}.wi'], f'l{l}.wi'), g.const(f'l{l}.ff', i64([a.ffn, a.ffn]))],
                                        [inp, gate], axis=-1))
        x = g.op('Add', [x, g.linear_nobias(g.op('Mul', [gelu(inp), gate]), w[f'{l}.wo'], f'l{l}.wo')])
    x = g.layer_norm(x, w['final_g'], None, 'final_norm', eps)
    if a.pooling == 'cls':
        pooled = g.op('Gather', [x, g.const('zero_s', i64(0))], axis=1)
    else:
        m = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], to=TensorProto.FLOAT), g.const('ax2', i64([2]))])
        pooled = g.op('Div', [g.op('ReduceSum', [g.op('Mul', [x, m]), 'ax1'], keepdims=0),
                              g.op('ReduceSum', [m, 'ax1'], keepdims=0)])
    hid = g.layer_norm(gelu(g.linear_nobias(pooled, w['head.w'], 'head.dense')), w['head_g'], None, 'head_norm', eps)
    g.nodes.append(helper.make_node('Add', [g.op('MatMul', [hid, g.const('cls.w', w['cls.w'])]), g.const('cls.b', w['cls.b'])], ['logits']))
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ['batch', 'seq']) for n in ('input_ids', 'attention_mask')]
    outs = [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', a.labels])]
    return g.finish('modernbert_cross', ins, outs, 'crossrank-make-modernbert')


def main():
    ap = parser(__doc__, 'a RoBERTa byte-level BPE tokenizer.json', layers=3, hidden=32, heads=2, ffn=48, labels=1, seed=13)
    ap.add_argument('--local-attention', type=int, default=128)
    ap.add_argument('--global-every', type=int, default=3)
    ap.add_argument('--pooling', choices=['mean', 'cls'], default='mean')
    ap.add_argument('--max-length', type=int, default=512)
    a = ap.parse_args()
    tok, vocab, pad = modernbert_tokenizer(a.tokenizer)
    w = init_weights(a, vocab, np.random.default_rng(a.seed))
    specials = {'cls_token': '<s>', 'sep_token': '</s>', 'pad_token': '<pad>', 'unk_token': '<unk>', 'mask_token': '<mask>'}
    ids = tok['model']['vocab']
    write_model(a.out, a.quant, build(a, w), {
        'tokenizer.json': tok,
        'tokenizer_config.json': {'tokenizer_class': 'PreTrainedTokenizerFast', 'model_max_length': a.max_length, **specials},
        'special_tokens_map.json': specials,
        'config.json': {
            'architectures': ['ModernBertForSequenceClassification'], 'model_type': 'modernbert',
            'hidden_size': a.hidden, 'num_hidden_layers': a.layers, 'num_attention_heads': a.heads,
            'intermediate_size': a.ffn, 'hidden_activation': 'gelu', 'max_position_embeddings': 8192,
            'local_attention': a.local_attention, 'global_attn_every_n_layers': a.global_every,
            'global_rope_theta': 160000.0, 'local_rope_theta': 10000.0, 'norm_eps': 1e-5, 'norm_bias': False,
            'classifier_pooling': a.pooling, 'classifier_activation': 'gelu', 'vocab_size': vocab,
            'pad_token_id': pad, 'cls_token_id': ids['<s>'], 'sep_token_id': ids['</s>'], **labels(a.labels)},
    })


if __name__ == '__main__':
    main()
