"""Real-clips haystack task folder (task.yaml + hooks.py)."""
