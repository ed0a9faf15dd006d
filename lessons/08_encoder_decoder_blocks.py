# %% [markdown]
# # Lesson 8: encoder and decoder blocks
#
# What you learn here:
# - the blocks of the paper's Fig. 3: attention, residual addition and LayerNorm, then the
#   feed-forward subnet, residual and LayerNorm (Sec. 3.2.5, 3.2.7);
# - the backward pass of a residual sublayer, and the decoder's second output: the gradient
#   for the encoder's output (memory);
# - a picture of how information moves between frames: which input frames each output frame
#   depends on, read off the backward pass.
#
# Run: python lessons/08_encoder_decoder_blocks.py   (2-5 s on 2 cores; see lessons/README.md)

# %%
import numpy as np

from avt_np import plot
from avt_np.gradcheck import gradcheck
from avt_np.model import DecoderBlock, EncoderBlock, ModelConfig
from avt_np.visualize import architecture

out = plot.lesson_output("08_encoder_decoder_blocks")
print(f"pictures go to {out}")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward: the paper's figure in a few lines
#
# $$\text{encoder: } x \leftarrow \operatorname{LN}_1(x + \operatorname{SelfAttention}(x)),
# \quad y = \operatorname{LN}_2(x + \operatorname{FeedForward}(x))$$
#
# $$\text{decoder: } x \leftarrow \operatorname{LN}_1(x + \operatorname{SelfAttention}(x)),
# \quad x \leftarrow \operatorname{LN}_2(x + \operatorname{CrossAttention}(x, m)),
# \quad y = \operatorname{LN}_3(x + \operatorname{FeedForward}(x))$$
#
# Every array is (B, T, D) (the memory m: (B, T_k, D)); the residual sums x + f(x) need the
# sublayers to return width D, which is why the paper adds input maps to 128 (Sec. 2.2.2).
# Where the blocks sit in the whole model (lesson 9 builds it), drawn from `ModelConfig()` by
# `avt_np.visualize.architecture.draw`, so the picture is what the code builds:

# %%
print("  ->", plot.save(architecture.draw(ModelConfig()), out, "architecture.png"))

# %%
encoder, decoder = EncoderBlock(rng=rng), DecoderBlock(rng=rng)
print(f"paper size (D = 128, 3 heads x 128, d_ff = 128): encoder block "
      f"{encoder.num_parameters():,} parameters, decoder block {decoder.num_parameters():,}")
print("decoder block children:", [name for name, _ in decoder.children()])

# %% [markdown]
# ## 2. Backward of a residual sublayer
# For y = LN(x + F(x)), call z = x + F(x). Then dz = LN.backward(dy), and z depends on x
# twice, directly and through F, so the two gradients add:
#
#     dx = dz + F.backward(dz)                          dy, dz, dx: (B, T, D)
#
# The direct term is why deep residual stacks train: the gradient always has a path that
# skips F. The block's backward is its forward read bottom-up, one line per sublayer:
#
#     encoder:  dz = LN2.backward(dy);  dx = dz + FF.backward(dz)
#               dz = LN1.backward(dx);  dx = dz + SelfAttention.backward(dz)
#
# The decoder's cross-attention returns two gradients: one adds to the residual path of x,
# the other (dmemory) goes back to the ENCODER, so the decoder's backward returns
# (dx, dmemory). In the full model every decoder block reads the same memory, and the model
# sums their dmemory before running the encoder backward (lesson 9).
# Checked at small widths, with dropout on (masks held fixed):

# %%
small = dict(dim=6, heads=2, d_head=3, d_ff=5, dropout=0.1, rng=rng)
x, memory = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
encoder_check = gradcheck(EncoderBlock(**small), x)
decoder_check = gradcheck(DecoderBlock(**small), x, memory)
print(f"EncoderBlock: {'PASS' if encoder_check.ok else 'FAIL'}, {len(encoder_check.checks)} "
      f"tensors, worst error {encoder_check.worst_error:.1e}")
print(f"DecoderBlock: {'PASS' if decoder_check.ok else 'FAIL'}, {len(decoder_check.checks)} "
      f"tensors, worst error {decoder_check.worst_error:.1e}")
for name, check in (("encoder", encoder_check), ("decoder", decoder_check)):
    print(f"  {name} tensors reported 'both zero' (key biases under softmax, lesson 6):",
          [c.name for c in check.checks if c.status == "both zero"])
assert encoder_check.ok and decoder_check.ok

# %% [markdown]
# ## 3. Which frames talk to which
# Influence of input frame j on output frame i: the size of the block of the Jacobian
# d y_i / d x_j, ||d y_i / d x_j||. One backward pass with an upstream gradient that is nonzero
# only at output frame i gives row i of this matrix (here projected on a random direction, a
# good stand-in for the norm). The feed-forward subnet works frame by frame: diagonal. One
# encoder block: every frame reads every other frame through self-attention. The decoder's
# cross-attention: every output frame (audio, say) depends on every memory frame (video).
# (The encoder block's bright diagonal is the residual path: each frame mostly keeps itself.)

# %%
def influence(module, *inputs, wrt=0):
    """(T_out, T_in): |projected gradient| of output frame i with respect to input frame j."""
    y = module(*inputs)
    T_out = y.shape[1]
    rows = []
    for i in range(T_out):
        dy = np.zeros_like(y)
        dy[:, i] = rng.standard_normal(y.shape[2])
        grads = module.backward(dy)
        g = grads[wrt] if isinstance(grads, tuple) else grads
        rows.append(np.linalg.norm(g[0], axis=-1))                  # (T_in,)
    module.zero_grad()
    return np.array(rows)


frames = rng.standard_normal((1, 10, 128))
video_memory = rng.standard_normal((1, 10, 128))
encoder64, decoder64 = EncoderBlock(rng=rng).astype(np.float64).eval(), \
    DecoderBlock(rng=rng).astype(np.float64).eval()
maps = {
    "feed-forward subnet": influence(encoder64.ff, frames),
    "encoder block": influence(encoder64, frames),
    "decoder block, from memory": influence(decoder64, frames, video_memory, wrt=1),
}
for name, m in maps.items():
    off_diagonal = m[~np.eye(10, dtype=bool)].max() / m.max()
    print(f"{name:27s} largest off-diagonal influence / largest: {off_diagonal:.2f}")
pictures = [plot.heatmap(m / m.max(), title=name, x_label="input frame j",
                         y_label="output frame i", vmin=0, vmax=1, cell=18)
            for name, m in maps.items()]
print("  ->", plot.save(plot.hstack(pictures), out, "frame_influence.png"))

# %% [markdown]
# ## Exercises
# 1. In `EncoderBlock.backward`, drop the residual term (`dx = self.ff.backward(dx)`). Which
#    tensors does the gradient check flag, and which does it not (think about what lies
#    before and after the feed-forward subnet)?
# 2. The paper's figure puts LayerNorm after each residual sum ("post-LN", like the original
#    transformer). Sketch the forward and the backward of the "pre-LN" variant,
#    x + F(LN(x)): where does the gradient's direct path go now?
