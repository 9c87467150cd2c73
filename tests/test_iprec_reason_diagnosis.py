"""The oracle of tools/iprec_reason_diagnosis.py: its per-reason logits are the generator's own
under the planted reason, and from the training impressions it finds the planted reasons far
above chance (the ceiling CLAIMS.md quotes for IPRec's main-reason claim)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from tfrec_pkg.claims import iprec_checks
from tfrec_pkg.data.synthetic.packages import REASONS

import tool_modules


@pytest.fixture(scope="module")
def tool():
    return tool_modules.load("iprec_reason_diagnosis")


@pytest.fixture(scope="module")
def data():
    return iprec_checks.data(0, quick=True)


def test_reason_logits_are_the_generators_under_the_planted_reason(tool, data):
    frame = data.splits()[0].frame
    logits = tool.reason_logits(frame, data.world.params["strength"])
    planted = np.array([REASONS.index(r) for r in frame["true_reason"]])
    np.testing.assert_allclose(expit(logits[np.arange(len(frame)), planted]), frame["true_prob"], rtol=1e-9)
    # "none" is the base logit alone; any other reason moves some row
    np.testing.assert_allclose(logits[:, REASONS.index("none")], frame["true_logit_base"])
    assert (np.abs(logits - logits[:, [REASONS.index("none")]]).max(axis=0)[:-1] > 1).all()


def test_the_oracle_finds_the_planted_reasons_from_training_impressions(tool, data):
    out = tool.ceiling(data, data.splits()[0].frame)
    confusion = out["confusion"]
    assert "none" not in confusion.index  # left out, as in the claim check
    assert confusion.to_numpy().sum() > 200
    assert out["ceiling_agreement"] > 0.8 and out["mean_posterior_of_planted"] > 0.7, out
