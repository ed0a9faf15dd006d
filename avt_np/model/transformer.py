"""The audiovisual transformer (paper Fig. 3).

    first modality  (B, T, D1) -> Linear(D1, 128) -> Dropout -> [+ PE] -> N encoder blocks --+
                                                                                           | memory
    second modality (B, T, D2) -> Linear(D2, 128) -> Dropout -> [+ PE] -> N decoder blocks <-+
        -> Linear(128, 17) -> sigmoid (per frame) -> mean or max over frames -> (B, 17)

Every switch of the paper's Table 1 is a field of ModelConfig: first / second modality (audio or
video, including audio/audio and video/video), positional encodings per modality, pooling and
attention function; plus N, heads, widths and dropout.
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

    def __post_init__(self):
        self.pos_enc = tuple(self.pos_enc)
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
        return self.positional(h) if self.positional else h

    def backward(self, dy, input_grad=True):
        # PE adds a constant, so the gradient skips it
        return self.project.backward(self.dropout.backward(dy), input_grad)


class AudiovisualTransformer(Module):
    """forward(first, second) -> clip probabilities (B, classes).

    first: (B, T1, D_first) frames of config.first; second: (B, T2, D_second) of config.second.
    After forward, `frame_probabilities` holds the per-frame sigmoid outputs (B, T2, classes).
    backward(dp) -> (dfirst, dsecond); backward(dp, input_grad=False) -> (None, None) computes
    only parameter gradients (training: the embeddings are data), which saves the largest
    product of the step, (B*T, 4096) x (4096, 128) for video.
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
        self.encoder = [EncoderBlock(*block_args) for _ in range(c.blocks)]
        self.decoder = [DecoderBlock(*block_args) for _ in range(c.blocks)]
        self.classifier = Linear(c.d_model, c.classes, rng, dtype)
        self.sigmoid = Sigmoid()
        self.pool = POOLING[c.pooling]()

    def forward(self, first, second):
        memory = self.encoder_input(first)                          # (B, T1, D)
        for block in self.encoder:
            memory = block(memory)
        x = self.decoder_input(second)                              # (B, T2, D)
        for block in self.decoder:
            x = block(x, memory)
        self.frame_probabilities = self.sigmoid(self.classifier(x))   # (B, T2, C)
        return self.pool(self.frame_probabilities)                  # (B, C)

    def backward(self, dp, input_grad=True):                       # dp: (B, C)
        dx = self.classifier.backward(self.sigmoid.backward(self.pool.backward(dp)))
        dmemory = 0
        for block in reversed(self.decoder):
            dx, dm = block.backward(dx)
            dmemory = dmemory + dm                # every decoder block reads the encoder output
        dsecond = self.decoder_input.backward(dx, input_grad)
        for block in reversed(self.encoder):
            dmemory = block.backward(dmemory)
        return self.encoder_input.backward(dmemory, input_grad), dsecond

    def cross_attention_weights(self):
        """Per decoder block, its last cross-attention weights (B, heads, T_second, T_first)."""
        return [block.cross_attn.weights for block in self.decoder]
