"""Layers with hand-written forward and backward passes (see module.py for the protocol)."""

from avt_np.nn.attention import (ATTENTION_FUNCTIONS, MultiHeadAttention, NormalizedSigmoid,
                                 ScaledDotProductAttention, Softmax, attention_function)
from avt_np.nn.dropout import Dropout, set_dropout_rng
from avt_np.nn.feedforward import FeedForward
from avt_np.nn.layernorm import LayerNorm
from avt_np.nn.linear import Linear, LinearStack
from avt_np.nn.losses import BinaryCrossEntropy
from avt_np.nn.module import Module
from avt_np.nn.positional import SinusoidalPositionalEncoding, sinusoidal_table
from avt_np.nn.relu import ReLU
from avt_np.nn.sigmoid import Sigmoid
from avt_np.nn.pooling import POOLING, AttentionPool, LinearSoftmaxPool, MaxPool, MeanPool
