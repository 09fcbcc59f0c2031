from fake_flywheel.pytest_fixtures import fake_flywheel

__all__ = ["fake_flywheel"]
