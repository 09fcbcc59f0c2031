from gear_testing.fixtures import fake_flywheel

__all__ = ["fake_flywheel"]
