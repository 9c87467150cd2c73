"""Data utilities: schema checks, sequence building, splits and negative sampling.

Submodules are pure numpy/pandas and are not imported here, so importing one of them
stays fast and TensorFlow-free.
"""
