"""``python -m csms.cli``: the ``csms`` command."""

from __future__ import annotations

import sys

from csms.cli import main

sys.exit(main())
