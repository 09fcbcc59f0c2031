"""Developer tools for the gears in this repository (not shipped inside gear images)."""
