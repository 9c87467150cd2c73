"""Metrics (numpy + Keras) and evaluation protocols."""
from tfrec_pkg.evaluation.protocols import evaluate, results_table  # noqa: F401
