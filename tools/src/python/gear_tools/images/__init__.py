"""Gear images after `pants package`: what was built, smoke runs, clean-clone builds."""
