"""Export: versioned atomic SavedModels for TF Serving, ONNX via tf2onnx.

    tfrec_pkg.export.save(model, "saved_models/base_model")   # -> saved_models/base_model/1

The functions load TensorFlow (and tf2onnx), so they are imported on first use: the
``tfrec export`` command line (``export/cli.py``) parses and answers ``--help`` without them.
"""
import importlib

# public function -> the module of this package that defines it
_FUNCTIONS = {"save": "saved_model", "versions": "saved_model", "serving_request": "signatures",
              "serving_signatures": "signatures", "to_onnx": "onnx"}
__all__ = list(_FUNCTIONS)


def __getattr__(name: str):
    if name not in _FUNCTIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
