"""Shared library that the repository's Flywheel gears are built from."""
