"""MuSENet's benchmark numbers against BaseModel and DCN-V2 on the same scenario rows, in the same
run (so they read as ratios): training examples/s, and the latency of scoring 100 candidate
items for one user through ``serving_default`` (the user's profile, behaviours and context
repeated, each candidate its own item and category)."""
from __future__ import annotations

import tensorflow as tf

from tfrec_pkg.bench.timing import p50_p99_ms, time_calls, train_examples_per_s
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.export.signatures import serving_signatures
from tfrec_pkg.models import registry

CANDIDATES = 100
RIVALS = ("scenario_base_model", "scenario_dcn_v2")


def _candidates(model, split) -> dict:
    frame = split.frame.head(CANDIDATES).copy()
    for column in frame.columns:
        if column.startswith(("user_id", "profile_", "hist_", "context_", "predefined_")):
            frame[column] = [frame[column].iloc[0]] * len(frame)
    arrays = frame_to_arrays(frame, [s for s in model.feature_spec if s.name != "repeat_label"], label=None)
    return {k: tf.constant(v) for k, v in arrays.items()}


def scoring_bench(model, quick: bool = False) -> dict:
    train = registry.entry("musenet").data(model.config, quick=True, seed=0).splits()[0]
    models = {"musenet": model}
    for name in RIVALS:
        entry = registry.entry(name)
        models[name] = entry.model_class(entry.planted_config(), train.vocab)
    out = {}
    steps = 10 if quick else 50
    for name, m in models.items():
        out[f"{name}_train_examples_per_s"] = round(train_examples_per_s(m, train, steps))
        serve = serving_signatures(m)["serving_default"]
        request = _candidates(m, train)
        p50, p99 = p50_p99_ms(time_calls(lambda: serve(**request), 20 if quick else 200))
        out[f"{name}_score_{CANDIDATES}_p50_ms"], out[f"{name}_score_{CANDIDATES}_p99_ms"] = round(p50, 3), round(p99, 3)
    for name in RIVALS:
        out[f"musenet_over_{name}_train_examples_per_s"] = round(
            out["musenet_train_examples_per_s"] / out[f"{name}_train_examples_per_s"], 3)
        out[f"musenet_over_{name}_score_{CANDIDATES}_p50"] = round(
            out[f"musenet_score_{CANDIDATES}_p50_ms"] / out[f"{name}_score_{CANDIDATES}_p50_ms"], 2)
    return out
