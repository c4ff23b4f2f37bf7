"""Run the hostile-input corpus and print how every input ended: the figures in README's "Reliability".

    python bench/fuzz_report.py                 # the CI corpus (derandomised Hypothesis profile "qsel")
    python bench/fuzz_report.py --profile fuzz  # the long random run (what `make fuzz` does)

It runs tests/test_fuzz_*.py under pytest with QSEL_FUZZ_REPORT set; tests/strategies.py counts each
reader run on a damaged input as loaded (a valid file after all), refused (QselError / exit 2 with one
``qsel: error:`` line naming the file), other (any other exception or output: a traceback) or crash (a
child process killed by a signal). Then it counts the cases in the fault suites tests/test_faults_*.py
(unwritable outputs, signals, locks ...) and runs them, so the README can state both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - t0


def summary_line(out: str) -> str:
    lines = [ln for ln in out.strip().splitlines() if re.search(r"\d+ (passed|failed|error)", ln)]
    return lines[-1].strip("= ") if lines else out.strip().splitlines()[-1] if out.strip() else "(no output)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="qsel", help="Hypothesis profile (qsel: CI, derandomised; fuzz: long)")
    ap.add_argument("--no-faults", action="store_true", help="skip tests/test_faults_*.py")
    args = ap.parse_args()

    fuzz_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_fuzz_*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "tally.json"
        env = dict(os.environ, QSEL_FUZZ_REPORT=str(report), HYPOTHESIS_PROFILE=args.profile)
        rc, out, secs = pytest(fuzz_files, env)
        tally = json.loads(report.read_text()) if report.exists() else {}

    cols = ("tried", "loaded", "refused", "other", "crash")
    print(f"hostile-input corpus, Hypothesis profile {args.profile!r}: {len(fuzz_files)} files, {secs:.0f} s, "
          f"pytest: {summary_line(out)}")
    print(f"{'reader':28s}" + "".join(f"{c:>9s}" for c in cols))
    totals = dict.fromkeys(cols, 0)
    for reader in sorted(r for r in tally if r not in ("seed",)):
        row = tally[reader]
        print(f"{reader:28s}" + "".join(f"{row.get(c, 0):>9d}" for c in cols))
        for c in cols:
            totals[c] += row.get(c, 0)
    print(f"{'total':28s}" + "".join(f"{totals[c]:>9d}" for c in cols))
    print(f"\n{totals['tried']} bad inputs tried: {totals['crash']} crashes, {totals['other']} tracebacks or "
          f"other exceptions, {totals['refused']} refused with one 'qsel: error:' line, {totals['loaded']} "
          f"loaded (damage that left a valid file)")
    if rc != 0:
        print("\npytest failed:\n" + out[-4000:])

    fault_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_faults_*.py"))
    if fault_files and not args.no_faults:
        frc, fout, fsecs = pytest(fault_files, dict(os.environ))
        print(f"\nfault suites ({fsecs:.0f} s): {summary_line(fout)}")
        for f in fault_files:
            _, cout, _ = pytest(["--collect-only", f], dict(os.environ))
            m = re.search(r"(\d+) tests? collected", cout)
            print(f"  {f}: {m.group(1) if m else '?'} cases")
        rc = rc or frc
    return rc


if __name__ == "__main__":
    sys.exit(main())
