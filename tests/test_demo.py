"""``tfrec demo``'s tables, references and estimate (tfrec_pkg/demo.py, experiment.bayes_reference);
the command itself runs in tests/test_cli.py."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg import demo, experiment
from tfrec_pkg.data.synthetic.base import Split
from tfrec_pkg.models import registry


def test_one_table_per_protocol_with_only_its_columns():
    rows = [{"model": "a", "protocol": "pointwise", "auc": 0.7, "bayes_auc": 0.8, "eval_seconds": 1.0,
             "n": 10, "train_seconds": 3.0, "epochs": 2},
            {"model": "b", "protocol": "full_ranking", "hr@10": 0.2, "bayes_hr@10": 0.4, "eval_seconds": 1.0,
             "n": 5, "train_seconds": 4.0, "epochs": 3}]
    out = demo.tables(rows)
    assert list(out) == ["pointwise", "full_ranking"]
    assert list(out["pointwise"].columns) == ["model", "auc", "bayes_auc", "n", "epochs", "train_seconds"]
    assert list(out["full_ranking"].columns) == ["model", "hr@10", "bayes_hr@10", "n", "epochs", "train_seconds"]
    text = demo.format_tables(out)
    assert "pointwise:" in text and "full_ranking:" in text and "0.7000" in text
    assert demo.LEGEND["pointwise"] in text and demo.LEGEND["full_ranking"] in text


def test_ranking_reference_from_the_true_ranks():
    ranks = np.array([1, 3, 12, 2, 40])
    frame = pd.DataFrame({"true_rank": np.r_[ranks, 1], "label": [1, 1, 1, 1, 1, 0]})  # the negative is left out
    split = Split("test", frame, [], {})
    row = {"model": "x", "hr@10": 0.1, "ndcg@5": 0.1, "mrr@10": 0.1, "n": 6}
    out = experiment.bayes_reference(row, split, "full_ranking")
    assert out["bayes_hr@10"] == pytest.approx(3 / 5)
    assert out["bayes_ndcg@5"] == pytest.approx((1 + 1 / np.log2(4) + 1 / np.log2(3)) / 5)
    assert out["bayes_mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 5)
    assert set(out) == {"bayes_hr@10", "bayes_ndcg@5", "bayes_mrr@10"}
    assert experiment.bayes_reference(row, Split("test", frame.drop(columns="true_rank"), [], {}),
                                      "full_ranking") == {}


def test_estimate_adds_the_measured_times():
    chosen = demo.names()
    assert chosen and all(registry.entry(n).in_demo for n in chosen)
    total = sum(registry.entry(n).demo_seconds for n in chosen)
    assert demo.estimate_seconds(chosen) == pytest.approx(total)
    assert demo.estimate_seconds(chosen, quick=True) < total
