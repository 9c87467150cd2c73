"""SUM figure helpers: channel utilisation (Table 5), reading shares (Fig. 5) and the heat map
(Fig. 6). The per-user NDCG@3 of the SUM claim table is the pointwise protocol's grouped NDCG
(tests/evaluation/test_metrics.py)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np

import tfrec_pkg  # noqa: F401
from tfrec_pkg.viz.sum_plots import channel_heatmap, channel_utilisation, reading_share


def test_channel_utilisation_counts_distinct_argmax_channels_without_highway():
    # 2 users, L=4, K=3 (2 interest channels + highway last, always 1)
    z = np.zeros((2, 4, 3))
    z[:, :, 2] = 1.0
    z[0, :, 0] = [0.9, 0.8, 0.1, 0.0]   # user 0: argmax channel 0,0,1,1 -> 2 distinct / 2 = 1.0
    z[0, :, 1] = [0.1, 0.2, 0.9, 1.0]
    z[1, :, 0] = [0.7, 0.6, 0.0, 0.0]   # user 1: length 2, both channel 0 -> 1 / 2 = 0.5
    z[1, :, 1] = [0.3, 0.4, 0.0, 0.0]
    np.testing.assert_allclose(channel_utilisation(z, [4, 2]), [1.0, 0.5])
    np.testing.assert_allclose(channel_utilisation(z, [0, 2]), [0.0, 0.5])   # empty history


def test_reading_share_sums_positive_rows_and_normalises():
    z = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(reading_share(z, labels=[1, 1, 0]), [0.75, 0.25])
    np.testing.assert_allclose(reading_share(z).sum(), 1.0)


def test_heatmap_drops_highway_and_truncates():
    z = np.random.default_rng(0).random((10, 5))
    ax = channel_heatmap(z, length=6)
    assert ax.images[0].get_array().shape == (4, 6)

