"""vidsleuth: answer questions about hour-long videos by investigating them."""

__version__ = "0.1.0"
