"""``python -m embcore.cli``: the ``embcore`` command."""

from __future__ import annotations

import sys

from embcore.cli import main

sys.exit(main())
