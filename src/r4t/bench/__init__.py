"""Benchmark harness: set quality and latency of retrievers."""
