"""A fourth label strategy, written outside spine_nb: hierarchical. One model with an "any finding" sigmoid channel
first, then one sigmoid channel per pathology; a pathology is called where both its channel and "any finding" are.

It is one subclass of `spine_nb.labels.Strategy` and one `register_strategy` call. To use it in every process a run
touches (the sweep's kernels, the analysis, `spine_nb predict`), put this folder on PYTHONPATH and name the module in
SPINE_NB_PLUGINS:

    PYTHONPATH=nbs/extensions SPINE_NB_PLUGINS=spine_nb_hierarchical spine_nb sweep --strategy hierarchical ...
"""
import numpy as np
import torch

from spine_nb.labels import Strategy, register_strategy


class Hierarchical(Strategy):
    "An 'any finding' channel, then the n pathology channels; decoded to the same n pathologies as every strategy."
    name = "hierarchical"
    doc = "one model: an 'any finding' sigmoid channel, then n pathology channels (called where both are)"
    takes_anatomy = False

    def out_channels(self, n_pathologies, codebook=None):
        return int(n_pathologies) + 1

    def target_lut(self, flags, codebook=None, channel=0):
        return np.concatenate([flags.any(1, keepdims=True), flags], 1).astype(np.uint8)

    def encode(self, pmap, anatomy, codebook=None, channel=0):
        return np.concatenate([pmap.any(0, keepdims=True), pmap]).astype(np.uint8)

    def decode(self, probs, codebook=None, threshold=0.5):
        p = probs if isinstance(probs, torch.Tensor) else np.asarray(probs)
        axis = p.ndim - 4                                   # (C, D, H, W) or (B, C, D, H, W)
        channel = lambda a, b: p[(slice(None),)*axis + (slice(a, b),)]
        return (channel(0, 1) >= threshold) & (channel(1, None) >= threshold)

    def pathology_probs(self, probs, codebook=None):
        p = np.asarray(probs, np.float32)                   # (n + 1, D, H, W)
        return np.minimum(p[:1], p[1:])                     # >= 0.5 exactly where `decode` calls the pathology


register_strategy(Hierarchical)
