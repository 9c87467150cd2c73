"""SUM figures: channel write-attention heat map over a user's sequence (the paper's Fig. 6)
and the cumulative reading attention per channel (Fig. 5)."""
from __future__ import annotations

import numpy as np


def channel_heatmap(write_weights, length: int | None = None, highway: bool = True, ax=None,
                    title: str = "write attention per channel"):
    """write_weights [L, K] of one user (``SUM.write_weights(features)[i]``); the highway
    channel (last, always 1) is left out as in Fig. 6."""
    import matplotlib.pyplot as plt

    z = np.asarray(write_weights)
    if length is not None:
        z = z[:length]
    if highway:
        z = z[:, :-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, z.shape[0] * 0.12), 1.6))
    ax.imshow(z.T, aspect="auto", cmap="Blues", vmin=0, vmax=max(1e-6, float(z.max())))
    ax.set_xlabel("behaviour (oldest -> newest)")
    ax.set_ylabel("channel")
    ax.set_yticks(range(z.shape[1]))
    ax.set_title(title)
    return ax


def reading_share(read_weights, labels=None) -> np.ndarray:
    """Fig. 5: sum of reading attention per channel over the positive instances, normalised
    to proportions (the last channel is the highway)."""
    z = np.asarray(read_weights, dtype=np.float64)
    if labels is not None:
        z = z[np.asarray(labels) == 1]
    total = z.sum(axis=0)
    return total / total.sum()


def reading_share_plot(shares: dict, ax=None):
    """``shares``: {label (e.g. "K=5"): proportions per channel}; one group of bars each."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.5))
    width = 0.8 / max(1, len(shares))
    for i, (label, share) in enumerate(shares.items()):
        ax.bar(np.arange(len(share)) + i * width, share, width, label=label)
    ax.set_xlabel("channel (last = highway)")
    ax.set_ylabel("share of reading attention")
    ax.legend()
    return ax


def channel_utilisation(write_weights, lengths, highway: bool = True) -> np.ndarray:
    """Table 5: per user, the number of distinct arg-max write channels over their real
    behaviours divided by the number of interest channels (highway excluded)."""
    z = np.asarray(write_weights)
    if highway:
        z = z[:, :, :-1]
    k = z.shape[-1]
    out = np.zeros(len(z))
    for i, n in enumerate(np.asarray(lengths)):
        if n > 0:
            out[i] = len(np.unique(np.argmax(z[i, :n], axis=-1))) / k
    return out
