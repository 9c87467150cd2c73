"""Framework for planted synthetic data sets.

A generator draws every label from a probability it knows, so the best score any model
can reach on the test split is known: for CTR data the Bayes-optimal AUC is the AUC of
the true probabilities (column ``true_prob``) against the drawn labels.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from tfrec_pkg.data.vocab import Vocabulary, fit_vocabularies
from tfrec_pkg.features import FeatureSpec

TRUE_PROB = "true_prob"


@dataclasses.dataclass
class Split:
    """One split of a data set: the frame, the feature specs, and the training vocabularies."""

    name: str
    frame: pd.DataFrame
    specs: Sequence[FeatureSpec]
    vocab: dict[str, Vocabulary]
    label: str = "label"
    group: str = "user_id"
    items: pd.DataFrame | None = None  # every item with its side features (ranking protocols)

    def dataset(self, batch_size: int = 256, shuffle: bool | None = None, seed: int = 0,
                group_size: int = 1):
        """tf.data pipeline of feature dicts + "label". Training data is shuffled by default;
        ``group_size`` keeps runs of consecutive rows together (see ``pipelines.from_frame``)."""
        from tfrec_pkg.data.pipelines import from_frame

        shuffle = (self.name == "train") if shuffle is None else shuffle
        return from_frame(self.frame, self.specs, batch_size, label=self.label, shuffle=shuffle, seed=seed,
                          group_size=group_size)

    @property
    def labels(self) -> np.ndarray:
        return self.frame[self.label].to_numpy()

    @property
    def true_probabilities(self) -> np.ndarray:
        if TRUE_PROB not in self.frame:
            raise ValueError(f"split {self.name!r} has no true probabilities (column {TRUE_PROB!r})")
        return self.frame[TRUE_PROB].to_numpy()

    def bayes_optimal(self) -> dict[str, float]:
        """Scores of the true probabilities themselves: the best any model can reach."""
        from tfrec_pkg.evaluation import metrics

        p, y = self.true_probabilities, self.labels
        return {"auc": metrics.auc(y, p), "gauc": metrics.gauc(y, p, self.frame[self.group].to_numpy()),
                "logloss": metrics.logloss(y, p)}

    def __len__(self):
        return len(self.frame)


@dataclasses.dataclass
class SyntheticData:
    """A generated data set: the full frame, which rows go to which split, and the specs."""

    frame: pd.DataFrame
    split_of: np.ndarray  # "train" | "val" | "test" per row
    specs: Sequence[FeatureSpec]
    group: str = "user_id"
    items: pd.DataFrame | None = None

    def splits(self) -> tuple[Split, Split, Split]:
        parts = {name: self.frame[self.split_of == name].reset_index(drop=True)
                 for name in ("train", "val", "test")}
        vocab = fit_vocabularies(parts["train"], self.specs)  # training data only
        return tuple(Split(name, parts[name], self.specs, vocab, group=self.group, items=self.items)
                     for name in ("train", "val", "test"))
