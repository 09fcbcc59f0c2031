"""An in-memory Flywheel API on 127.0.0.1 that the real flywheel-sdk client can talk to (tests)."""

from fake_flywheel.server import FakeFlywheel, Fault, RecordedRequest

__all__ = ["FakeFlywheel", "Fault", "RecordedRequest"]
