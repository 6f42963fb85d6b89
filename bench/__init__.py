"""Benchmark servers and the driver behind `scripts/bench` (see docs/benchmarks.md)."""
