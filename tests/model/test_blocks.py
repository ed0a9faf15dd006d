import numpy as np
import pytest

from avt_np.gradcheck import gradcheck
from avt_np.model.blocks import DecoderBlock, EncoderBlock
from avt_np.nn import ATTENTION_FUNCTIONS
from tests.nn.bound import Bound


def key_mask(lengths, frames):
    return (np.arange(frames) < np.asarray(lengths)[:, None])[:, None, None, :]


def perturbed(block, rng):
    for _, param, _ in block.parameters():             # move off the trivial init values
        param += 0.1 * rng.standard_normal(param.shape)
    return block


@pytest.mark.parametrize("function", list(ATTENTION_FUNCTIONS))
def test_masked_encoder_block_passes_gradcheck(function):
    rng = np.random.default_rng(0)
    block = perturbed(EncoderBlock(6, 2, 3, 5, function, 0.2, rng), rng)
    x = rng.standard_normal((3, 4, 6))
    result = gradcheck(Bound(block, key_mask([4, 2, 1], 4)), x)
    assert result.ok, result
    assert len(result.checks) == 1 + len(list(block.parameters()))


@pytest.mark.parametrize("function", list(ATTENTION_FUNCTIONS))
def test_masked_decoder_block_passes_gradcheck(function):
    rng = np.random.default_rng(1)
    block = perturbed(DecoderBlock(6, 2, 3, 5, function, 0.2, rng), rng)
    x, memory = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 5, 6))
    result = gradcheck(Bound(block, key_mask([4, 2, 1], 4), key_mask([5, 2, 1], 5)), x, memory)
    assert result.ok, result
    assert len(result.checks) == 2 + len(list(block.parameters()))
