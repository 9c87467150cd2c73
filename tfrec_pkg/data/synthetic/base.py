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
    label: str | None = "label"  # None: every row is a positive (next-item rows need no label)
    group: str = "user_id"
    items: pd.DataFrame | None = None  # every item with its side features (ranking protocols)

    def dataset(self, batch_size: int = 256, shuffle: bool | None = None, seed: int = 0,
                group_size: int = 1, length_buckets=(), shard: tuple[int, int] = (1, 0)):
        """tf.data pipeline of feature dicts + "label". Training data is shuffled by default;
        ``group_size`` keeps runs of consecutive rows together, ``length_buckets`` batches rows
        of similar length, ``shard`` reads one worker's share (see ``pipelines.from_frame``)."""
        from tfrec_pkg.data.pipelines import from_frame

        shuffle = (self.name == "train") if shuffle is None else shuffle
        return from_frame(self.frame, self.specs, batch_size, label=self.label, shuffle=shuffle, seed=seed,
                          group_size=group_size, length_buckets=length_buckets, shard=shard)

    @property
    def positives(self) -> pd.DataFrame:
        """The rows whose label is 1 (every row when the split has no label)."""
        return self.frame if self.label is None else self.frame[self.frame[self.label] == 1]

    @property
    def labels(self) -> np.ndarray:
        if self.label is None:
            raise ValueError(f"split {self.name!r} has no label column; the pointwise protocol needs one "
                             "(0/1 per row, column 'label')")
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


def as_split(data, model, name: str) -> Split:
    """``data`` as a :class:`Split` for ``model``: a split as it is; a DataFrame with the
    model's input columns (``model.training_spec(columns)``: its ``feature_spec``, or the
    inputs of another training form the frame is in) wrapped with the model's vocabularies,
    its ``label`` column if it has one, and -- for ranking -- the model's known items as the
    catalogue. A missing column raises a ``ValueError`` naming it."""
    if not isinstance(data, pd.DataFrame):
        return data
    items = pd.DataFrame({"item_id": np.asarray(model.vocab["item"].ids)}) if "item" in model.vocab else None
    return Split(name, data.reset_index(drop=True), model.training_spec(list(data.columns)), model.vocab,
                 label="label" if "label" in data.columns else None, items=items)


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
