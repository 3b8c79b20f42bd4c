"""embcore: turn existing data into fine-tuning and evaluation sets for text embedding models."""

from __future__ import annotations

import os

# PyTorch's OpenMP threads spin while they wait for each other; on a busy 2-core machine that
# made a training step ~8x slower (measured: 40 s instead of 5 s). Passive waiting costs nothing
# on an idle machine. Set before torch is imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["__version__"]
