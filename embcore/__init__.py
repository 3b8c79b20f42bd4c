"""embcore: turn existing data into fine-tuning and evaluation sets for text embedding models."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
