"""SavedModel signatures and sample requests, built from a model's serving endpoints.

``serving_signatures(model)`` turns each :class:`~tfrec_pkg.models.endpoint.Endpoint` of
``model.serving_endpoints()`` into a concrete function with a fixed input signature (built
from the FeatureSpecs, so no warm-up call on data is needed). ``serving_request(model,
features)`` is the ``serving_default`` request for a batch of raw features: the features the
signature takes, plus the endpoint's per-row defaults for its other inputs (e.g. ``k``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def serving_signatures(model) -> dict[str, tf.types.experimental.ConcreteFunction]:
    out = {}
    for name, endpoint in model.serving_endpoints().items():
        out[name] = tf.function(endpoint.fn, input_signature=endpoint.input_signature).get_concrete_function()
    return out


def serving_request(model, features: dict, signature_name: str = "serving_default") -> dict:
    """{input name: numpy array} for ``signature_name`` from raw features (numpy, one row per
    example): the feature inputs the signature reads, then the endpoint's defaults (each repeated per row)."""
    endpoint = model.serving_endpoints()[signature_name]
    n = len(next(iter(features.values())))
    out = {}
    for spec in endpoint.input_signature:
        if isinstance(spec, dict):
            out.update({name: features[name] for name in spec})
        else:
            value = endpoint.defaults[spec.name]   # a per-row value: a scalar, or a row (e.g. a state)
            out[spec.name] = np.full((n,) + np.shape(value), value, dtype=spec.dtype.as_numpy_dtype)
    return out
