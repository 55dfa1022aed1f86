"""LVBench task folder (task.yaml + hooks.py)."""
