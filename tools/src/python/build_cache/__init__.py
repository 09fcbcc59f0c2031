"""The shared build cache: its server (BuildGrid, bin/build-cache) and its fault checks."""
