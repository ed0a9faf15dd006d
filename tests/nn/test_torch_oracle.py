"""The hand-written backward passes against PyTorch autograd in float64: the poolings, masked
local attention and the whole model with every option for keeping time, written here a second
time in PyTorch (independently of avt_np's code: masks built with plain loops), fed avt_np's
parameters, and differentiated by autograd. PyTorch is optional (pip install torch==2.13.0);
without it these tests are skipped."""

import math

import numpy as np
import pytest

from avt_np import nn
from avt_np.model import AudiovisualTransformer, ModelConfig

torch = pytest.importorskip("torch", reason="PyTorch is optional (pip install torch==2.13.0); "
                                            "the autograd oracle needs it")

TOL = dict(rtol=1e-9, atol=1e-11)


def t(x, grad=False):
    return torch.tensor(np.asarray(x, np.float64), requires_grad=grad)


def keys_allowed(lengths_q, lengths_k, t_q, t_k, window):
    """(B, T_q, T_k) bool, with loops: real keys within +-window of the query (every real key
    for a query with none in its window; window None: every real key)."""
    allowed = np.zeros((len(lengths_k), t_q, t_k), bool)
    for b, n in enumerate(lengths_k):
        for i in range(t_q):
            for j in range(n):
                allowed[b, i, j] = window is None or abs(i - j) <= window
            if not allowed[b, i].any():
                allowed[b, i, :n] = True
    return allowed


@pytest.mark.parametrize("mask", [False, True])
def test_linear_softmax_pooling_matches_autograd(mask):
    rng = np.random.default_rng(0)
    x, dy = rng.uniform(0.05, 0.95, (3, 6, 4)), rng.standard_normal((3, 4))
    real = np.arange(6) < np.array([6, 3, 1])[:, None] if mask else None
    pool = nn.LinearSoftmaxPool()
    y, dx = pool(x, real), pool.backward(dy)
    xt = t(x, True)
    m = t(np.ones((3, 6)) if real is None else real)[:, :, None]
    yt = (xt ** 2 * m).sum(1) / (xt * m).sum(1)
    (yt * t(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)


def test_attention_pooling_matches_autograd():
    rng = np.random.default_rng(1)
    x, a, dy = rng.random((3, 6, 4)), rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 4))
    real = np.arange(6) < np.array([6, 3, 1])[:, None]
    pool = nn.AttentionPool()
    y = pool(x, a, real)
    dx, da = pool.backward(dy)
    xt, at = t(x, True), t(a, True)
    w = torch.softmax(at.masked_fill(~torch.tensor(real)[:, :, None], -math.inf), dim=1)
    yt = (w * xt).sum(1)
    (yt * t(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(da, at.grad.numpy(), **TOL)


def test_local_masked_attention_matches_autograd():
    from avt_np.model.transformer import local_key_mask
    rng = np.random.default_rng(2)
    B, H, T, d = 3, 2, 6, 4
    q, k, v = (rng.standard_normal((B, H, T, d)) for _ in range(3))
    dout = rng.standard_normal((B, H, T, d))
    lengths = np.array([6, 3, 1])
    keys = (np.arange(T) < lengths[:, None])[:, None, None, :]
    attention = nn.ScaledDotProductAttention("softmax", 0.0)
    out = attention(q, k, v, local_key_mask(keys, T, T, 1))
    dq, dk, dv = attention.backward(dout)
    qt, kt, vt = t(q, True), t(k, True), t(v, True)
    allowed = torch.tensor(keys_allowed(lengths, lengths, T, T, 1))[:, None]
    scores = (qt @ kt.transpose(-1, -2) / math.sqrt(d)).masked_fill(~allowed, -math.inf)
    outt = torch.softmax(scores, -1) @ vt
    (outt * t(dout)).sum().backward()
    np.testing.assert_allclose(out, outt.detach().numpy(), **TOL)
    for mine, theirs in ((dq, qt), (dk, kt), (dv, vt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), **TOL)


def torch_model(params, config, first, second, lengths):
    """The AudiovisualTransformer (eval mode: no dropout) in PyTorch, from avt_np's parameters
    by name. -> clip probabilities (B, C)."""
    def linear(name, x):
        return x @ params[name + ".W"] + params[name + ".b"]

    def norm(name, x):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], params[name + ".g"],
                                              params[name + ".b"], eps=1e-6)

    def positional(x):
        T, D = x.shape[-2:]
        pos = torch.arange(T, dtype=torch.float64)[:, None]
        i = torch.arange(D, dtype=torch.float64)
        angle = pos * 10000.0 ** (-(i // 2 * 2) / D)
        return x + torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))

    def attention(name, x, memory, allowed):
        B, T_q, _ = x.shape
        H, d = config.heads, config.d_head

        def heads(y):
            return y.reshape(B, y.shape[1], H, d).transpose(1, 2)

        q, k, v = heads(linear(name + ".q", x)), heads(linear(name + ".k", memory)), \
            heads(linear(name + ".v", memory))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(d)).masked_fill(~allowed[:, None],
                                                                        -math.inf)
        out = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T_q, H * d)
        return linear(name + ".out", out)

    def feed_forward(name, x):
        return linear(name + ".out", torch.relu(linear(name + ".hidden", x)))

    T1, T2 = first.shape[1], second.shape[1]
    self_first = torch.tensor(keys_allowed(lengths, lengths, T1, T1, config.self_window))
    self_second = torch.tensor(keys_allowed(lengths, lengths, T2, T2, config.self_window))
    cross = torch.tensor(keys_allowed(lengths, lengths, T2, T1, config.cross_window))
    memory = linear("encoder_input.project", first)
    memory = positional(memory) if config.first in config.pos_enc else memory
    for i in range(config.blocks):
        p = f"encoder.{i}."
        memory = norm(p + "norm1", memory + attention(p + "self_attn", memory, memory,
                                                      self_first))
        memory = norm(p + "norm2", memory + feed_forward(p + "ff", memory))
    x = stream = linear("decoder_input.project", second)
    x = stream = positional(x) if config.second in config.pos_enc else x
    for i in range(config.blocks):
        p = f"decoder.{i}."
        x = norm(p + "norm1", x + attention(p + "self_attn", x, x, self_second))
        x = norm(p + "norm2", x + attention(p + "cross_attn", x, memory, cross))
        x = norm(p + "norm3", x + feed_forward(p + "ff", x))
    if config.frame_skip:
        x = x + stream
    frames = torch.sigmoid(linear("classifier", x))                          # (B, T2, C)
    real = torch.tensor(np.arange(T2) < lengths[:, None])[:, :, None]
    if config.pooling == "mean":
        return (frames * real).sum(1) / real.sum(1)
    if config.pooling == "linear-softmax":
        return (frames ** 2 * real).sum(1) / (frames * real).sum(1)
    if config.pooling == "attention":
        w = torch.softmax(linear("pool_scores", x).masked_fill(~real, -math.inf), dim=1)
        return (w * frames).sum(1)
    raise ValueError(config.pooling)


@pytest.mark.parametrize("options", [
    dict(pooling="linear-softmax", frame_skip=True),
    dict(pooling="attention", self_window=1, cross_window=0),
    dict(pooling="mean", self_window=0, cross_window=2, frame_skip=True),
    dict(pooling="mean")], ids=["preset", "attention-windows", "mean-windows-skip", "paper"])
def test_the_model_with_each_time_option_matches_autograd(options):
    config = ModelConfig(first="video", second="audio", pos_enc=("video",), blocks=2, heads=2,
                         d_model=6, d_head=3, d_ff=5, dims={"audio": 5, "video": 7}, **options)
    model = AudiovisualTransformer(config, seed=0).astype(np.float64).eval()
    rng = np.random.default_rng(3)
    first, second = rng.standard_normal((3, 6, 7)), rng.standard_normal((3, 6, 5))
    lengths = np.array([6, 4, 1])
    dp = rng.standard_normal((3, 17))
    model.zero_grad()
    p = model(first, second, lengths)
    dfirst, dsecond, _ = model.backward(dp)

    params = {name: t(value, True) for name, value, _ in model.parameters()}
    first_t, second_t = t(first, True), t(second, True)
    p_t = torch_model(params, config, first_t, second_t, lengths)
    (p_t * t(dp)).sum().backward()
    np.testing.assert_allclose(p, p_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(dfirst, first_t.grad.numpy(), **TOL)
    np.testing.assert_allclose(dsecond, second_t.grad.numpy(), **TOL)
    for name, _, grad in model.parameters():
        np.testing.assert_allclose(grad, params[name].grad.numpy(), err_msg=name, **TOL)
