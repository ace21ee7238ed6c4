"""Makes the oracle suite's dataset writers and CLI helpers (tests/oracle) importable.

Not a conftest.py: two conftest modules on sys.path would shadow each other."""

import os
import sys

ORACLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "oracle")
if ORACLE not in sys.path:
    sys.path.append(ORACLE)
