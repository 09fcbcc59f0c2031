"""Helpers for testing the in-repo Pants plugins with Pants' RuleRunner."""
