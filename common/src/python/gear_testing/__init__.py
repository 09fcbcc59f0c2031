"""Test support for gears: pytest fixtures and a way to run a gear's entry point."""
