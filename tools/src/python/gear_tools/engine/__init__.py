"""The container engines images are built and run with (Docker, or podman and buildah)."""
