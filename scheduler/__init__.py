"""Orbital workload scheduler: plans AI jobs across a compute constellation."""

__version__ = "0.1.0"
