"""Float64 numpy reference for the Transformer pieces (GELU, LayerNorm, multi-head attention,
FFN) shared by the transformer and co-attention equation tests; reads the Keras layers' weights."""
import math

import numpy as np

EPS = 1e-12
_erf = np.vectorize(math.erf)


def _w(t):
    return t.numpy().astype(np.float64)


def np_gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def np_layer_norm(x, ln):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * _w(ln.gamma) + _w(ln.beta)


def np_mha(mha, q_in, kv_in, mask):
    """softmax(Q K^T / sqrt(d/h)) V per head, then the output projection; an all-False mask row
    attends to its diagonal key only."""
    q = np.einsum("bth,hnd->btnd", q_in, _w(mha._query_dense.kernel)) + _w(mha._query_dense.bias)
    k = np.einsum("bsh,hnd->bsnd", kv_in, _w(mha._key_dense.kernel)) + _w(mha._key_dense.bias)
    v = np.einsum("bsh,hnd->bsnd", kv_in, _w(mha._value_dense.kernel)) + _w(mha._value_dense.bias)
    scores = np.einsum("btnd,bsnd->bnts", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = np.array(mask, bool)
        for b, t in zip(*np.nonzero(~mask.any(-1))):
            mask[b, t, t] = True
        scores = np.where(mask[:, None], scores, -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    o = np.einsum("bnts,bsnd->btnd", p, v)
    return np.einsum("btnd,ndh->bth", o, _w(mha._output_dense.kernel)) + _w(mha._output_dense.bias)


def np_ffn(ffn, x):
    return np_gelu(x @ _w(ffn.dense_1.kernel) + _w(ffn.dense_1.bias)) @ _w(ffn.dense_2.kernel) \
        + _w(ffn.dense_2.bias)


def randomize(layer, seed, scale=0.3):
    """Replace every weight by a random one (the 0.02 init makes attention nearly uniform)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([(rng.normal(0, scale, w.shape) + (1.0 if "gamma" in v.name else 0.0))
                       .astype(np.float32) for v, w in zip(layer.weights, layer.get_weights())])
