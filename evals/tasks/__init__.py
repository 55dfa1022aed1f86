"""Built-in benchmark task folders; the registry finds them by walking this folder."""
