"""The audiovisual transformer (paper Fig. 3).

    first modality  (B, T, D1) -> Linear(D1, 128) -> Dropout -> [+ PE] -> N encoder blocks --+
                                                                                           | memory
    second modality (B, T, D2) -> Linear(D2, 128) -> Dropout -> [+ PE] -> N decoder blocks <-+
        -> Linear(128, 17) -> sigmoid (per frame) -> mean or max over frames -> (B, 17)

Options of ours for a model that also says *when* (not in the paper; docs/detection.md,
lesson 15): linear-softmax or attention pooling; local attention, each frame attending only to
frames within +-w of it, separately for self- and cross-attention (`self_window`,
`cross_window`); and `frame_skip`, which adds the decoder's input stream to the last block's
output before the classifier, so every frame's own embedding reaches the classifier past the
attention layers that average frames together.

Every switch of the paper's Table 1 is a field of ModelConfig: first / second modality (audio or
video, including audio/audio and video/video), positional encodings per modality, pooling and
attention function; plus N, heads, widths and dropout.

Padded frames. Clips shorter than T frames are stored zero-padded, with their real length
(DCASE 2017 Task 4 clips are often shorter than 10 s). forward(first, second, lengths) leaves
the frames at index >= length out as keys of every attention (encoder self-attention, decoder
self- and cross-attention) and out of pooling, so a clip's output is the one it gets when cut
to its real frames (config.mask_padding, on by default).
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from avt_np.model.blocks import DecoderBlock, EncoderBlock
from avt_np.nn import (POOLING, ATTENTION_FUNCTIONS, Dropout, Linear, Module, Sigmoid,
                       SinusoidalPositionalEncoding)

MODALITIES = ("audio", "video")


@dataclass
class ModelConfig:
    first: str = "video"                       # modality read by the encoder
    second: str = "audio"                      # modality read by the decoder
    pos_enc: tuple = ("video",)                # modalities that get positional encodings
    pooling: str = "mean"                      # "mean" or "max" (Sec. 2.2.4)
    attention: str = "softmax"                 # "softmax", "sigmoid", "normalized-sigmoid"
    blocks: int = 3                            # N (Sec. 3.2.3)
    heads: int = 3                             # Sec. 3.2.4
    d_model: int = 128                         # Sec. 3.2.6: every map has 128 neurons
    d_head: int = 128                          # per-head width: see MultiHeadAttention
    d_ff: int = 128                            # hidden units of the feed-forward subnet
    dropout: float = 0.1                       # Sec. 3.2.7
    classes: int = 17
    dims: dict = field(default_factory=lambda: {"audio": 128, "video": 4096})
    # Leave padded frames (index >= a clip's length) out of attention and pooling. The paper
    # is silent on padding; False ignores `lengths` and treats every frame as real.
    mask_padding: bool = True
    # Which encoder output the decoder's cross-attention reads: k = the output of encoder block
    # k, 0 = the input stream (linear map, dropout, positional encodings); None = the last block,
    # the paper's model (Fig. 3). An ablation of ours: blocks after k could not change the
    # output, so only k encoder blocks are built.
    memory_block: int = None
    # Local attention: a frame attends only to frames within +-window of its own index (the
    # same 0.96 s grid in both modalities); None = every frame, the paper's model.
    self_window: int = None                    # encoder and decoder self-attention
    cross_window: int = None                   # the decoder's cross-attention
    # Add the decoder's input stream (each frame's own embedding) to the last decoder block's
    # output before the classifier. False: the paper's model.
    frame_skip: bool = False

    def __post_init__(self):
        self.pos_enc = tuple(self.pos_enc)
        if self.memory_block is None:
            self.memory_block = self.blocks
        if not 0 <= self.memory_block <= self.blocks:
            raise ValueError(f"memory block {self.memory_block}: expected 0..{self.blocks} "
                             f"(0 = the input stream, {self.blocks} = the last encoder block)")
        for name in ("first", "second"):
            if getattr(self, name) not in MODALITIES:
                raise ValueError(f"{name} modality '{getattr(self, name)}': expected audio or video")
        unknown = set(self.pos_enc) - set(MODALITIES)
        if unknown:
            raise ValueError(f"positional encodings on {sorted(unknown)}: expected audio and/or video")
        unused = set(self.pos_enc) - {self.first, self.second}
        if unused:
            raise ValueError(f"positional encodings on {sorted(unused)}, which this "
                             f"{self.first}/{self.second} model does not read")
        if self.pooling not in POOLING:
            raise ValueError(f"pooling '{self.pooling}': expected one of {', '.join(POOLING)}")
        for name in ("self_window", "cross_window"):
            window = getattr(self, name)
            if window is not None and not (isinstance(window, int) and window >= 0):
                raise ValueError(f"{name} {window!r}: expected a number of frames >= 0 or None")
        if self.attention not in ATTENTION_FUNCTIONS:
            raise ValueError(f"attention '{self.attention}': expected one of "
                             f"{', '.join(ATTENTION_FUNCTIONS)}")

    def to_dict(self):
        d = asdict(self)
        d["pos_enc"] = list(self.pos_enc)
        return d


class InputStream(Module):
    """Extra linear map to the model width, dropout, optional positional encodings (Sec. 2.2.2).

    x: (B, T, D_in) -> (B, T, d_model)
    """

    def __init__(self, d_in, d_model, dropout, positional, rng, dtype):
        super().__init__()
        self.project = Linear(d_in, d_model, rng, dtype)
        self.dropout = Dropout(dropout, rng)
        self.positional = SinusoidalPositionalEncoding() if positional else None

    def forward(self, x):
        h = self.dropout(self.project(x))
        self.output = self.positional(h) if self.positional else h     # for diagnostics.py
        return self.output

    def backward(self, dy, input_grad=True):
        # PE adds a constant, so the gradient skips it
        return self.project.backward(self.dropout.backward(dy), input_grad)


def check_lengths(lengths, batch, frames):
    """lengths as an integer array (batch,) with 1 <= length <= frames, else a ValueError."""
    lengths = np.asarray(lengths)
    if not np.issubdtype(lengths.dtype, np.integer) or lengths.shape != (batch,):
        raise ValueError(f"lengths: expected integers of shape ({batch},), got {lengths.dtype} "
                         f"of shape {lengths.shape}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > frames):
        raise ValueError(f"lengths: expected 1 <= length <= {frames} (frames per clip), got "
                         f"values from {lengths.min()} to {lengths.max()}")
    return lengths


def real_frames(lengths, frames):
    """(B, frames) bool, True at index < length; None when every frame is real (no masking)."""
    if lengths.size == 0 or lengths.min() >= frames:
        return None
    return np.arange(frames) < lengths[:, None]


def key_mask(real):
    """(B, T) real frames -> (B, 1, 1, T), broadcast over heads and queries; None stays None."""
    return None if real is None else real[:, None, None, :]


def local_key_mask(keys, queries, frames, window):
    """The keys a query may attend to: the real ones within +-window frames of its index.

    keys: (B, 1, 1, T_k) real keys or None; queries, frames: T_q, T_k; window: frames or None
    (every key: `keys` unchanged). -> (B or 1, 1, T_q, T_k) bool. A query with no real key in
    its window (a padded query past a short clip's end, or a query beyond T_k) keeps every
    real key instead, so no row of attention weights is left without a key.
    """
    if window is None:
        return keys
    band = np.abs(np.arange(queries)[:, None] - np.arange(frames)[None, :]) <= window
    band = band[None, None]                                         # (1, 1, T_q, T_k)
    if keys is not None:
        band = band & keys
    empty = ~band.any(-1, keepdims=True)                            # (., 1, T_q, 1)
    if empty.any():
        everything = np.ones((1, 1, 1, frames), bool) if keys is None else keys
        band = band | (empty & everything)
    return band


def attention_masks(config, lengths, frames_first, frames_second):
    """The frames and keys a model of `config` uses for clips of `lengths` (checked integers, or
    None: every frame real) -> (real frames of the first modality (B, T1) or None, of the
    second, key masks of the first modality's self-attention, of the second's, of the
    cross-attention (each None or broadcastable to (B, H, T_q, T_k)))."""
    real_first = real_second = None                             # None: every frame is real
    if lengths is not None and config.mask_padding:
        real_first = real_frames(lengths, frames_first)          # (B, T1) or None
        real_second = real_frames(lengths, frames_second)        # (B, T2) or None
    keys_first, keys_second = key_mask(real_first), key_mask(real_second)   # (B, 1, 1, T)
    T1, T2 = frames_first, frames_second
    return (real_first, real_second,
            local_key_mask(keys_first, T1, T1, config.self_window),      # (B, 1, T, T) or as is
            local_key_mask(keys_second, T2, T2, config.self_window),
            local_key_mask(keys_first, T2, T1, config.cross_window))


class AudiovisualTransformer(Module):
    """forward(first, second, lengths=None) -> clip probabilities (B, classes).

    first: (B, T1, D_first) frames of config.first; second: (B, T2, D_second) of config.second.
    lengths (optional): (B,) integers, the real frames of each clip, shared by both modalities
    (1 <= length <= min(T1, T2); a ValueError otherwise). With config.mask_padding, frames at
    index >= length are keys of no attention and take no part in pooling, so they change no
    output and get zero gradient. None: every frame is real (exactly the unmasked model).
    After forward, `frame_probabilities` holds the per-frame sigmoid outputs (B, T2, classes)
    (those of padded frames are computed but meaningless), and `cross_attention_weights()`
    gives padded keys weight 0.
    backward(dp) -> (dfirst, dsecond), plus a None for lengths when forward was given lengths
    (one gradient per input, as the module protocol and the gradient checker expect).
    backward(dp, input_grad=False) -> (None, None[, None]) computes only parameter gradients
    (training: the embeddings are data), which saves the largest product of the step,
    (B*T, 4096) x (4096, 128) for video.
    """

    def __init__(self, config=None, seed=0, dtype=np.float32):
        super().__init__()
        self.config = c = config or ModelConfig()
        rng = np.random.default_rng(seed)
        block_args = (c.d_model, c.heads, c.d_head, c.d_ff, c.attention, c.dropout, rng, dtype)
        self.encoder_input = InputStream(c.dims[c.first], c.d_model, c.dropout,
                                         c.first in c.pos_enc, rng, dtype)
        self.decoder_input = InputStream(c.dims[c.second], c.d_model, c.dropout,
                                         c.second in c.pos_enc, rng, dtype)
        self.encoder = [EncoderBlock(*block_args) for _ in range(c.memory_block)]
        self.decoder = [DecoderBlock(*block_args) for _ in range(c.blocks)]
        self.classifier = Linear(c.d_model, c.classes, rng, dtype)
        self.sigmoid = Sigmoid()
        self.pool = POOLING[c.pooling]()
        # attention pooling's scores: one per frame and class, from the classifier's input
        self.pool_scores = (Linear(c.d_model, c.classes, rng, dtype)
                            if c.pooling == "attention" else None)

    def forward(self, first, second, lengths=None):
        self.given_lengths = lengths is not None
        if lengths is not None:
            lengths = check_lengths(lengths, first.shape[0], min(first.shape[1], second.shape[1]))
        real_first, real_second, self_first, self_second, cross = attention_masks(
            self.config, lengths, first.shape[1], second.shape[1])
        c = self.config
        memory = self.encoder_input(first)                          # (B, T1, D)
        for block in self.encoder:
            memory = block(memory, self_first)
        self.memory, self.real_first = memory, real_first           # for avt_np/diagnostics.py
        x = stream = self.decoder_input(second)                     # (B, T2, D)
        for block in self.decoder:
            x = block(x, memory, self_second, cross)
        if c.frame_skip:
            x = x + stream                                          # each frame's own embedding
        self.frame_probabilities = self.sigmoid(self.classifier(x))   # (B, T2, C)
        if self.pool_scores is not None:
            return self.pool(self.frame_probabilities, self.pool_scores(x), real_second)
        return self.pool(self.frame_probabilities, real_second)     # (B, C)

    def backward(self, dp, input_grad=True):                       # dp: (B, C)
        if self.pool_scores is not None:
            dframes, dscores = self.pool.backward(dp)
            dx = self.classifier.backward(self.sigmoid.backward(dframes))
            dx = dx + self.pool_scores.backward(dscores)
        else:
            dx = self.classifier.backward(self.sigmoid.backward(self.pool.backward(dp)))
        dstream = dx if self.config.frame_skip else 0
        dmemory = 0
        for block in reversed(self.decoder):
            dx, dm = block.backward(dx)
            dmemory = dmemory + dm                # every decoder block reads the encoder output
        dsecond = self.decoder_input.backward(dx + dstream, input_grad)
        for block in reversed(self.encoder):
            dmemory = block.backward(dmemory)
        dfirst = self.encoder_input.backward(dmemory, input_grad)
        return (dfirst, dsecond, None) if self.given_lengths else (dfirst, dsecond)

    def cross_attention_weights(self):
        """Per decoder block, its last cross-attention weights (B, heads, T_second, T_first)."""
        return [block.cross_attn.weights for block in self.decoder]
