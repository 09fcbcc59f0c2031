"""Checks of the repository's GitHub workflow files (resolve `tools`)."""
