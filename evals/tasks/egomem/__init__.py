"""EgoMem task folder (task.yaml + hooks.py)."""
