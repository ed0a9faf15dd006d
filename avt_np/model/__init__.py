"""The audiovisual transformer: blocks and the full model."""

from avt_np.model.blocks import DecoderBlock, EncoderBlock
from avt_np.model.transformer import MODALITIES, AudiovisualTransformer, ModelConfig
