from gear_testing.fixtures import aws_ssm, fake_flywheel

__all__ = ["aws_ssm", "fake_flywheel"]
