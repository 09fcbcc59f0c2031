"""Releasing gears: images to a registry by digest, versions to a Flywheel site, and verifying."""
