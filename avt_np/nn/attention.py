"""Attention: the paper's three attention functions, scaled dot-product and multi-head attention.

Paper Sec. 2.1.1 (Eq. 1) and Sec. 2.2.5 (Eq. 2). Every attention function acts along the last
axis, the key axis: scores (..., T_k) -> weights (..., T_k). The plain sigmoid is also the
model's output activation, so it has its own file (sigmoid.py).

Padded frames. Clips shorter than T frames are zero-padded; a key mask (bool, broadcastable to
the scores, e.g. (B, 1, 1, T_k); True = a real frame, False = padding) keeps the padded frames
out as keys: every attention function takes it as `forward(x, key_mask=None)` and gives a
padded key the weight exactly 0, each in its own way (see each docstring), so a clip's real
frames get exactly the weights they would get were the clip cut to its real length. Every row
must keep at least one real key. Padded frames still act as queries; their outputs are
meaningless and the model leaves them out of pooling. key_mask=None: every key is real.
"""

import numpy as np

from avt_np.nn.dropout import Dropout
from avt_np.nn.linear import Linear, LinearStack
from avt_np.nn.module import Module
from avt_np.nn.reductions import row_sum
from avt_np.nn.sigmoid import Sigmoid, stable_sigmoid
from avt_np.nn.subnormal import flush_tiny


class Softmax(Module):
    """w_i = exp(x_i) / sum_j exp(x_j). Rows sum to 1.

    Weights under eps^2 of the dtype (1.4e-14 in float32) are set to exactly 0 (subnormal.py).
    Key mask: a padded key's score becomes -inf before the softmax, so its weight is exactly 0
    and the real keys' weights are the softmax over the real keys alone (the row max is taken
    over real keys only, so padded content cannot even shift it). Backward needs no mask: the
    Jacobian diag(w) - w w^T is zero in the rows and columns of a zero weight.
    """

    def forward(self, x, key_mask=None):
        if key_mask is not None:
            x = np.where(key_mask, x, x.dtype.type(-np.inf))
        e = x - x.max(-1, keepdims=True)             # shifting by the row max changes nothing but overflow
        np.exp(e, out=e)
        e /= row_sum(e)                               # row sums as BLAS products (reductions.py)
        self.w = flush_tiny(e)                        # no subnormal weights (subnormal.py)
        return self.w

    def backward(self, dw):
        # Jacobian diag(w) - w w^T applied to dw
        return self.w * (dw - row_sum(dw * self.w))


class NormalizedSigmoid(Module):
    """w_i = sigma(x_i) / (sum_j sigma(x_j) + eps)  (paper Eq. 2). Rows sum to just under 1.

    Key mask: a padded key's sigma is set to 0 before the normalising sum, so it gets weight 0
    and adds nothing to the denominator. Backward needs no mask: it multiplies by
    s (1 - s), which is 0 where s was zeroed (the zeroed s no longer depends on its score).
    """

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x, key_mask=None):
        self.s = stable_sigmoid(x)                                          # (..., T_k)
        if key_mask is not None:
            self.s *= key_mask                                              # before the sum
        self.denominator = row_sum(self.s) + x.dtype.type(self.eps)                 # (..., 1)
        self.w = self.s / self.denominator
        return self.w

    def backward(self, dw):
        # through the quotient: ds_k = (dw_k - sum_i dw_i w_i) / denominator; then through sigma
        ds = (dw - row_sum(dw * self.w)) / self.denominator
        return ds * self.s * (1 - self.s)


def real_keys(x, key_mask):
    """n, the number of real keys of each row: (..., 1), in x's dtype (T_k without a mask)."""
    if key_mask is None:
        return x.dtype.type(x.shape[-1])
    return np.broadcast_to(key_mask, x.shape).sum(-1, keepdims=True).astype(x.dtype)


class ScaledSigmoid(Module):
    """w_i = sigma(x_i) / n, n the number of real keys. Not in the paper: ours (issue 21).

    The plain sigmoid's rows sum to about n/2 at initialisation (softmax: 1); dividing by the
    constant n (not by the row's sum, as the normalized sigmoid does) keeps the weights
    unnormalised and independent of each other while the row sum starts near 1/2.
    Key mask: padded keys get weight 0 and do not count in n. Backward: s (1 - s) / n.
    """

    def forward(self, x, key_mask=None):
        self.s = stable_sigmoid(x)
        if key_mask is not None:
            self.s *= key_mask
        self.n = real_keys(x, key_mask)
        self.w = self.s / self.n
        return self.w

    def backward(self, dw):
        return dw * self.s * (1 - self.s) / self.n


class BiasedSigmoid(Module):
    """w_i = sigma(x_i - log n), n the number of real keys: sigmoid attention with the score
    bias b = -log(n) of Ramapuram et al., "Theory, Analysis, and Best Practices for Sigmoid
    Self-Attention" (2024, arXiv:2409.04431). Not in the paper (Boes & Van hamme use the plain
    sigmoid); an option here.

    With scores near 0 a weight starts near 1/(n + 1), so a row sums to about 1.
    Key mask: padded keys get weight 0 and do not count in n. Backward: w (1 - w).
    """

    def forward(self, x, key_mask=None):
        self.w = stable_sigmoid(x - np.log(real_keys(x, key_mask)))
        if key_mask is not None:
            self.w *= key_mask
        return self.w

    def backward(self, dw):
        return dw * self.w * (1 - self.w)


ATTENTION_FUNCTIONS = {
    "softmax": Softmax,
    "sigmoid": Sigmoid,
    "normalized-sigmoid": NormalizedSigmoid,
    "sigmoid-scaled": ScaledSigmoid,             # ours, not the paper's (issue 21)
    "sigmoid-bias": BiasedSigmoid,               # Ramapuram et al. 2024, not the paper's
}


def attention_function(name):
    """A new attention-function module by its command-line name."""
    if name not in ATTENTION_FUNCTIONS:
        raise ValueError(f"unknown attention function '{name}': "
                         f"expected one of {', '.join(ATTENTION_FUNCTIONS)}")
    return ATTENTION_FUNCTIONS[name]()


class ScaledDotProductAttention(Module):
    """A(Q, K, V) = f(Q K^T / sqrt(d_k)) V  (paper Eq. 1, with f any attention function).

    q: (B, H, T_q, d_k), k: (B, H, T_k, d_k), v: (B, H, T_k, d_v) -> (B, H, T_q, d_v)
    key_mask (optional): bool, broadcastable to (B, H, T_q, T_k), usually (B, 1, 1, T_k); False
    marks a padded key, which f gives weight exactly 0 (module docstring), so padded keys and
    values reach no output and get zero gradients. None: every key is real.
    Dropout acts on the attention weights, after f (Sec. 3.2.7). `self.weights` keeps the last
    weights (before dropout), shape (B, H, T_q, T_k), for visualisation.
    """

    def __init__(self, function="softmax", dropout=0.1, rng=None):
        super().__init__()
        self.function = attention_function(function)
        self.dropout = Dropout(dropout, rng)

    def forward(self, q, k, v, key_mask=None):
        self.q, self.k, self.v, self.key_mask = q, k, v, key_mask           # key_mask: diagnostics
        self.scale = q.shape[-1] ** -0.5                                    # Python float: no upcast
        scores = q @ k.swapaxes(-1, -2)                                     # (B, H, T_q, T_k)
        scores *= self.scale
        self.weights = self.function(scores, key_mask)
        self.dropped = self.dropout(self.weights)
        # Stored as (B, T_q, H, d_v) and returned as a (B, H, T_q, d_v) view: merging the heads
        # afterwards (MultiHeadAttention.merge_heads) is then a reshape, not a copy.
        B, H, T_q, _ = q.shape
        out = np.empty((B, T_q, H, v.shape[-1]), np.result_type(self.dropped, v))
        return np.matmul(self.dropped, v, out=out.transpose(0, 2, 1, 3))   # (B, H, T_q, d_v)

    def backward(self, dout, out=None):                                     # (B, H, T_q, d_v)
        """-> (dq, dk, dv). out (optional): three arrays of those shapes, e.g. views into one
        merged buffer, which the gradients are written into (and returned)."""
        dq, dk, dv = (None, None, None) if out is None else out
        dv = np.matmul(self.dropped.swapaxes(-1, -2), dout, out=dv)        # (B, H, T_k, d_v)
        dweights = self.dropout.backward(dout @ self.v.swapaxes(-1, -2))    # (B, H, T_q, T_k)
        dscores = self.function.backward(dweights) * self.scale
        dq = np.matmul(dscores, self.k, out=dq)                             # (B, H, T_q, d_k)
        dk = np.matmul(dscores.swapaxes(-1, -2), self.q, out=dk)            # (B, H, T_k, d_k)
        return dq, dk, dv


class MultiHeadAttention(Module):
    """Multi-head attention (paper Fig. 2): per-head query/key/value maps, heads concatenated,
    a final linear map, dropout on its output (Sec. 3.2.7).

    Self-attention: mha(x) with x (B, T, D). Cross-attention: mha(x, memory), queries from x
    (B, T_q, D), keys and values from memory (B, T_k, D); T_q and T_k may differ.
    Output: (B, T_q, D). backward returns dx for self-attention, (dx, dmemory) for cross-attention.
    key_mask (optional, bool (B, 1, 1, T_k), False = padded frame) masks the keys: the frames of
    x in self-attention, of memory in cross-attention, e.g. mha(x, None, key_mask) or
    mha(x, memory, key_mask). See ScaledDotProductAttention.

    Width per head. The paper says every linear map has 128 neurons and uses 3 heads; 128 is not
    divisible by 3, so the usual d_head = d_model / heads cannot hold. We read it as: every head
    has its own 128-wide query, key and value maps (d_head = 128), the 3 heads are concatenated
    to 384 and the final map takes 384 back to 128; scores are scaled by 1/sqrt(d_head). This
    adds no number the paper does not give, and it gives the parameter counts in the
    docs/model.md (2,526,097 for video/audio). d_head is a parameter.
    The per-head maps of all heads are stored side by side in one (D, heads * d_head) matrix
    per role (q, k, v): identical maths, one matrix product instead of `heads`. Roles that read
    the same input (q, k, v in self-attention; k, v in cross-attention) also share one product.
    """

    def __init__(self, dim, heads=3, d_head=128, attention="softmax", dropout=0.1,
                 rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.heads, self.d_head = heads, d_head
        self.q = Linear(dim, heads * d_head, rng, dtype)
        self.k = Linear(dim, heads * d_head, rng, dtype)
        self.v = Linear(dim, heads * d_head, rng, dtype)
        self.qkv, self.kv = LinearStack(self.q, self.k, self.v), LinearStack(self.k, self.v)
        self.attention = ScaledDotProductAttention(attention, dropout, rng)
        self.out = Linear(heads * d_head, dim, rng, dtype)
        self.out_dropout = Dropout(dropout, rng)

    @property
    def weights(self):
        """The last attention weights, (B, heads, T_q, T_k)."""
        return self.attention.weights

    def split_heads(self, x):
        """(B, T, n H d) -> (B, n H, T, d). For n maps stacked side by side (LinearStack),
        np.split(..., n, axis=1) then gives one (B, H, T, d) view per map."""
        B, T, _ = x.shape
        return x.reshape(B, T, -1, self.d_head).transpose(0, 2, 1, 3)

    def merge_heads(self, x):
        """(B, H, T, d) -> (B, T, H d). Free (a reshape) when x is laid out as (B, T, H, d) in
        memory, as the attention output is; a copy otherwise."""
        B, H, T, d = x.shape
        return x.transpose(0, 2, 1, 3).reshape(B, T, H * d)

    def forward(self, x, memory=None, key_mask=None):
        self.is_self_attention = memory is None
        # Maps that read the same input run as one matrix product (LinearStack).
        if self.is_self_attention:
            q, k, v = np.split(self.split_heads(self.qkv(x)), 3, axis=1)    # (B, H, T, d) each
        else:
            q = self.split_heads(self.q(x))                                 # (B, H, T_q, d)
            k, v = np.split(self.split_heads(self.kv(memory)), 2, axis=1)   # (B, H, T_k, d)
        heads = self.attention(q, k, v, key_mask)                           # (B, H, T_q, d)
        return self.out_dropout(self.out(self.merge_heads(heads)))         # (B, T_q, D)

    def backward(self, dy):                                                 # (B, T_q, D)
        dheads = self.split_heads(self.out.backward(self.out_dropout.backward(dy)))
        # dq, dk, dv are written straight into the (B, T, n H d) layout the stacked maps read,
        # through the same split_heads views forward used: merging the heads afterwards cost one
        # copy of each (measured in one process: docs/speed.md).
        B, H, T_q, d = dheads.shape
        T_k = self.attention.k.shape[2]
        if self.is_self_attention:                  # x fed queries, keys and values
            dqkv = np.empty((B, T_q, 3 * H * d), dheads.dtype)
            self.attention.backward(dheads, out=np.split(self.split_heads(dqkv), 3, axis=1))
            return self.qkv.backward(dqkv)
        dq, dkv = np.empty((B, T_q, H * d), dheads.dtype), np.empty((B, T_k, 2 * H * d), dheads.dtype)
        dk, dv = np.split(self.split_heads(dkv), 2, axis=1)
        self.attention.backward(dheads, out=(self.split_heads(dq), dk, dv))
        return self.q.backward(dq), self.kv.backward(dkv)
