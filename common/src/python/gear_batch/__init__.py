"""Batch runs of a gear over many containers: select, plan, submit, track, cancel, collect."""
