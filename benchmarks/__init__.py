"""Benchmarks: speed and strength side by side with baselines, run by ``make bench``."""
