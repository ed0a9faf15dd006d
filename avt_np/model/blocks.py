"""Encoder and decoder blocks of the audiovisual transformer (paper Fig. 3)."""

import numpy as np

from avt_np.nn import FeedForward, LayerNorm, Module, MultiHeadAttention


class EncoderBlock(Module):
    """x -> LayerNorm(x + SelfAttention(x)) -> LayerNorm(. + FeedForward(.))

    x: (B, T, D) -> (B, T, D)
    key_mask (optional): bool (B, 1, 1, T), False at padded frames, which self-attention then
    ignores as keys (see avt_np/nn/attention.py). None: every frame is real.
    """

    def __init__(self, dim=128, heads=3, d_head=128, d_ff=128, attention="softmax",
                 dropout=0.1, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.self_attn = MultiHeadAttention(dim, heads, d_head, attention, dropout, rng, dtype)
        self.norm1 = LayerNorm(dim, dtype=dtype)
        self.ff = FeedForward(dim, d_ff, dropout, rng, dtype)
        self.norm2 = LayerNorm(dim, dtype=dtype)

    def forward(self, x, key_mask=None):
        # self.branches keeps (skip, branch) before each LayerNorm, for avt_np/diagnostics.py
        a = self.self_attn(x, None, key_mask)
        self.branches = {"self_attn": (x, a)}
        x = self.norm1(x + a)
        f = self.ff(x)
        self.branches["ff"] = (x, f)
        return self.norm2(x + f)

    def backward(self, dy):
        dx = self.norm2.backward(dy)
        dx = dx + self.ff.backward(dx)                  # residual path + feed-forward path
        dx = self.norm1.backward(dx)
        return dx + self.self_attn.backward(dx)


class DecoderBlock(Module):
    """x -> LayerNorm(x + SelfAttention(x)) -> LayerNorm(. + CrossAttention(., memory))
         -> LayerNorm(. + FeedForward(.))

    x: (B, T_q, D), memory (the encoder output): (B, T_k, D) -> (B, T_q, D)
    key_mask (optional): bool (B, 1, 1, T_q), False at padded frames of x (keys of the
    self-attention); memory_mask (optional): bool (B, 1, 1, T_k), False at padded frames of
    memory (keys of the cross-attention). None: every frame is real.
    backward returns (dx, dmemory).
    """

    def __init__(self, dim=128, heads=3, d_head=128, d_ff=128, attention="softmax",
                 dropout=0.1, rng=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.self_attn = MultiHeadAttention(dim, heads, d_head, attention, dropout, rng, dtype)
        self.norm1 = LayerNorm(dim, dtype=dtype)
        self.cross_attn = MultiHeadAttention(dim, heads, d_head, attention, dropout, rng, dtype)
        self.norm2 = LayerNorm(dim, dtype=dtype)
        self.ff = FeedForward(dim, d_ff, dropout, rng, dtype)
        self.norm3 = LayerNorm(dim, dtype=dtype)

    def forward(self, x, memory, key_mask=None, memory_mask=None):
        # self.branches keeps (skip, branch) before each LayerNorm, for avt_np/diagnostics.py
        a = self.self_attn(x, None, key_mask)
        self.branches = {"self_attn": (x, a)}
        x = self.norm1(x + a)
        c = self.cross_attn(x, memory, memory_mask)
        self.branches["cross_attn"] = (x, c)
        x = self.norm2(x + c)
        f = self.ff(x)
        self.branches["ff"] = (x, f)
        return self.norm3(x + f)

    def backward(self, dy):
        dx = self.norm3.backward(dy)
        dx = dx + self.ff.backward(dx)
        dx = self.norm2.backward(dx)
        dx_cross, dmemory = self.cross_attn.backward(dx)
        dx = self.norm1.backward(dx + dx_cross)
        return dx + self.self_attn.backward(dx), dmemory
