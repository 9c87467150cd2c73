"""Export: versioned atomic SavedModels for TF Serving, ONNX via tf2onnx."""
from tfrec_pkg.export.saved_model import save, versions  # noqa: F401
from tfrec_pkg.export.signatures import serving_request, serving_signatures  # noqa: F401


def to_onnx(*args, **kwargs):
    from tfrec_pkg.export.onnx import to_onnx as _to_onnx

    return _to_onnx(*args, **kwargs)
