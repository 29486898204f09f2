"""What the reference-model generators (make_xlmr_model.py, make_modernbert_model.py) share: a small
ONNX graph builder (constants, ops with generated names, linear layers in fp32 or in the dynamic
int8 pattern of onnxruntime's quantize_dynamic, LayerNorm), their command line and file writing."""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Graph:
    def __init__(self, quant):
        self.nodes, self.inits, self.quant, self.n = [], [], quant, 0

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op, ins, **kw):
        self.n += 1
        out = f'{op.lower()}_{self.n}'
        self.nodes.append(helper.make_node(op, ins, [out], **kw))
        return out

    def linear(self, x, w, b, name):
        if not self.quant:
            y = self.op('MatMul', [x, self.const(f'{name}.w', w)])
            return y if b is None else self.op('Add', [y, self.const(f'{name}.b', b)])
        # Dynamic int8, the pattern onnxruntime's quantize_dynamic emits (per-tensor scales).
        scale = np.float32(np.abs(w).max() / 127.0)
        qw = self.const(f'{name}.qw', np.clip(np.round(w / scale), -127, 127).astype(np.int8))
        self.nodes.append(helper.make_node('DynamicQuantizeLinear', [x], [f'{name}.qx', f'{name}.xs', f'{name}.xz']))
        y = self.op('MatMulInteger', [f'{name}.qx', qw, f'{name}.xz', self.const(f'{name}.wz', np.array(0, np.int8))])
        y = self.op('Mul', [self.op('Cast', [y], to=TensorProto.FLOAT),
                            self.op('Mul', [f'{name}.xs', self.const(f'{name}.ws', np.array(scale, np.float32))])])
        return y if b is None else self.op('Add', [y, self.const(f'{name}.b', b)])

    def layer_norm(self, x, g, b, name, eps):
        ins = [x, self.const(f'{name}.g', g)] + ([] if b is None else [self.const(f'{name}.b', b)])
        return self.op('LayerNormalization', ins, epsilon=eps, axis=-1)

    def linear_nobias(self, x, w, name):
        return self.linear(x, w, None, name)

    def finish(self, name, ins, outs, producer):
        model = helper.make_model(helper.make_graph(self.nodes, name, ins, outs, self.inits),
                                  opset_imports=[helper.make_opsetid('', 17)], producer_name=producer)
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model




def parser(doc, tokenizer_help, **defaults):
    """The command line both generators take; `defaults` sets each one's shape."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out')
    ap.add_argument('--tokenizer', required=True, help=tokenizer_help)
    for name in ('layers', 'hidden', 'heads', 'ffn', 'labels', 'seed'):
        ap.add_argument(f'--{name}', type=int, default=defaults[name])
    ap.add_argument('--std', type=float, default=0.1)
    ap.add_argument('--quant', action='store_true', help='write onnx/model_quantized.onnx (int8 dynamic)')
    return ap


def write_model(out, quant, model, files):
    """onnx/model.onnx (or model_quantized.onnx with quant) and the JSON files {name: object}."""
    os.makedirs(os.path.join(out, 'onnx'), exist_ok=True)
    onnx.save(model, os.path.join(out, 'onnx', 'model_quantized.onnx' if quant else 'model.onnx'))
    for name, obj in files.items():
        with open(os.path.join(out, name), 'w', encoding='utf-8') as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
    print('wrote', out)


def labels(n):
    """config.json's id2label and label2id for n labels."""
    names = {str(i): f'LABEL_{i}' for i in range(n)}
    return {'num_labels': n, 'id2label': names, 'label2id': {v: int(k) for k, v in names.items()}}
