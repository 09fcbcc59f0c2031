"""Template gear: text statistics of an input file."""
