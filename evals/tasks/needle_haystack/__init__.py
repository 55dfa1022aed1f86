"""Synthetic needle-in-a-haystack task folder (task.yaml + hooks.py)."""
