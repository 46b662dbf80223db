"""reasonembed: the ReMixer synthetic data factory for reasoning-intensive retrieval."""

__version__ = "0.1.0"
