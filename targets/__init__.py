"""qsel.targets — target registry and emitters (D-Wave BQM/CQM, QAOA, OpenQAOA, classical files).

Targets arrive with their own issue; this package already exists so the
import name ``qsel.targets`` is stable and plugins can register against it.
"""

from __future__ import annotations

__all__: list[str] = []
