"""Data utilities: schema checks, sequence building, splits and negative sampling.

Submodules are pure numpy/pandas and are not imported here, so importing one of them
stays fast and TensorFlow-free. :func:`load_interactions` (module :mod:`~tfrec_pkg.data.loading`)
reads a user's own interaction data for the next-item models, :func:`load_stream` (module
:mod:`~tfrec_pkg.data.stream_loading`) an interaction stream for the stream models.
"""
from tfrec_pkg.data.loading import Interactions, load_interactions
from tfrec_pkg.data.stream_loading import load_stream

