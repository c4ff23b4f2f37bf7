"""Test configuration: Hypothesis profiles, and the hostile-input tally for bench/fuzz_report.py.

Profiles (choose with HYPOTHESIS_PROFILE=NAME or pytest --hypothesis-profile=NAME):

* ``qsel`` (default, CI): 60 examples per test, derandomised, so a run is a pure function of the code:
  the same examples every time, on every machine. A failure is reproducible, never luck.
* ``thorough``: 500 random examples per test.
* ``fuzz``: 3000 random examples per test, for ``make fuzz`` (long runs that hunt for new reader bugs;
  failures are saved in the local Hypothesis database and replayed first next time).
"""

from __future__ import annotations

import json
import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much])
settings.register_profile("qsel", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)
settings.register_profile("fuzz", max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "qsel"))


def pytest_sessionfinish(session, exitstatus) -> None:
    """With QSEL_FUZZ_REPORT=PATH, write how many hostile inputs each reader was given and how each ended."""
    path = os.environ.get("QSEL_FUZZ_REPORT")
    strategies = sys.modules.get("strategies")
    if path and strategies is not None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(strategies.Tally.counts, fh, indent=1, sort_keys=True)
