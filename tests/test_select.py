"""qsel select: one command from a network to a pruned, evaluated network with baselines and plots."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from qsel.cli import main
from qsel.frontend import metrics
from qsel.frontend.data import check_compatible, load_dataset
from qsel.frontend.init import init_network
from qsel.frontend.models import load_model, save_model
from qsel.result import Result


@pytest.fixture(scope="module")
def net_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sel") / "net.npz"
    save_model(init_network([2, 12, 2], "relu", "kaiming-uniform", 0), path)
    return path


@pytest.mark.slow
def test_select_writes_everything_and_its_numbers_agree(net_path, tmp_path):
    out = tmp_path / "sel"
    r = CliRunner().invoke(main, ["select", str(net_path), "--data", "moons", "--keep", "0.5", "-s", "exact",
                                  "--sweep", "0.25", "-o", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("problem.qir", "target/manifest.json", "result.json", "pruned.npz", "summary.json",
                 "couplings.png", "accuracy_vs_keep.png", "baselines/greedy.json", "baselines/exact.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    rows = {row["method"]: row for row in summary["rows"]}
    assert set(rows) == {"qsel (exact)", "random", "magnitude", "greedy", "exact", "lasso", "obs"}
    # the exact solver and the exact baseline solve the same problem: same optimum
    assert rows["qsel (exact)"]["energy"] == pytest.approx(rows["exact"]["energy"], rel=1e-9)
    for row in rows.values():  # IR energy == objective measured on the masked network
        assert row["energy"] == pytest.approx(row["objective"], rel=1e-9)
        assert row["feasible"] and row["kept"] == {"fc1": "6/12"}
    # the pruned network really is the masked one: same test accuracy, fewer units
    pruned = load_model(out / "pruned.npz")
    net = load_model(net_path)
    test = check_compatible(net, load_dataset("moons", "test"))
    assert pruned.layers[0].units == 6
    assert metrics.accuracy(pruned, test) == pytest.approx(rows["qsel (exact)"]["accuracy"])
    sel = Result.load(out / "result.json").selection
    np.testing.assert_allclose(pruned.forward(test.X), net.forward(test.X, unit_masks=sel.unit_masks()),
                               rtol=1e-12, atol=1e-12)
    assert {row["keep"] for row in summary["sweep"]} == {0.25}
    assert "qsel (exact)" in r.stdout and "greedy" in r.stdout


@pytest.mark.slow
def test_select_sequential_schedule_runs_end_to_end(tmp_path):
    path = tmp_path / "deep.npz"
    save_model(init_network([2, 8, 8, 2], "relu", "kaiming-uniform", 1), path)
    out = tmp_path / "seq"
    r = CliRunner().invoke(main, ["select", str(path), "--data", "moons", "--keep", "0.5", "--schedule",
                                  "sequential", "--objective", "reconstruct", "-s", "exact",
                                  "--baselines", "greedy", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [row["kept"] for row in rows] == [{"fc1": "4/8", "fc2": "4/8"}] * 2
    for row in rows:
        assert row["energy"] == pytest.approx(row["objective"], rel=1e-9)


@pytest.mark.parametrize("args,fragment", [
    (["--data", "moons"], "say how much to keep"),
    (["--data", "moons", "--keep", "0.5", "--baselines", "lucky"], "unknown method 'lucky'"),
    (["--data", "moons", "--keep", "0.5", "--sweep", "0.5,2"], "--sweep: every keep ratio must be in (0, 1]"),
    (["--data", "moons", "--keep", "0.5", "-s", "anneal"], "unknown solver 'anneal'"),
    (["--data", "moons", "--keep", "0.5", "--layers", "fc7"], "no layer named 'fc7'"),
])
@pytest.mark.slow
def test_select_bad_input_exits_2_with_a_clear_message(net_path, tmp_path, args, fragment):
    proc = subprocess.run([sys.executable, "-m", "qsel.cli", "select", str(net_path), *args, "-o",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("qsel: error: ") and fragment in proc.stderr
    assert "Traceback" not in proc.stderr
