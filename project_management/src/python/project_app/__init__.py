"""Project management gear: Flywheel groups and projects from a study file."""
