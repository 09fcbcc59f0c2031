"""What a CI run checks."""
