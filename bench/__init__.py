"""Accuracy and speed benchmark of the sync engine against PyPI peers (run bench/run.py)."""
