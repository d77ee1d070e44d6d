"""Throughput benchmarks, each reporting a ratio against a reference measured in the same run."""
