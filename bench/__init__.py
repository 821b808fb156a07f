"""Benchmark harness: ``python -m bench`` (``make bench``). See :mod:`bench.harness`."""

__all__: list[str] = []
