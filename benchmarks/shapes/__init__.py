"""Helpers of ``bench_shapes.py``: the data generator and the reference scripts.

The scripts in this directory (``naive_*.py``, ``floor_*.py``) are run as separate
processes by ``bench_shapes.py``; ``generate.py`` is imported by it.
"""
