"""Layers with hand-written forward and backward passes (see module.py for the protocol)."""

from avt_np.nn.module import Module
