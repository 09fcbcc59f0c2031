"""Creating gears: new gears from the template or a manifest, their resolves and versions."""
