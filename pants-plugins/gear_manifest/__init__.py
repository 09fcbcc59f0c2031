"""Pants plugin: `pants lint` checks gear manifests against their docker_image targets."""
