"""Wire payloads of events the parts service publishes (`aftersales.parts.<Type>`).

Registered into the shared catalog on import (catalog.py imports this module at its end).
"""

from __future__ import annotations
