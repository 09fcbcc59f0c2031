"""Errors a gear reports to its user: each becomes one clear log line and exit code 1."""

from __future__ import annotations


class GearError(Exception):
    """A failure the gear explains to its user, as opposed to a bug."""


class GearConfigError(GearError):
    """A config value in config.json is missing, of the wrong type or out of range."""


class GearInputError(GearError):
    """An input file is missing, unreadable or not what the gear expects."""
