"""Batch run: a gear over many containers: text statistics of an input file."""
