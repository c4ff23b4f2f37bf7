"""compile / baseline / eval / apply on the command line, including --extra pyqubo terms."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend.init import init_network
from qsel.frontend.models import save_model


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    path = tmp_path_factory.mktemp("fe") / "net.npz"
    save_model(init_network([2, 10, 2], "tanh", "kaiming-uniform", 3), path)
    return path


@pytest.mark.slow
def test_compile_with_extra_terms_and_params(net, tmp_path):
    terms = tmp_path / "terms.py"
    terms.write_text(
        "from pyqubo import Placeholder\n"
        "from qsel.extra_terms import at_least\n"
        "def terms(x, problem):\n"
        "    return Placeholder('lam') * x['fc1.n0'], [at_least(['fc1.n1', 'fc1.n2'], 1, 'one-of-two')]\n")
    out = tmp_path / "p.qir"
    plain = tmp_path / "plain.qir"
    base = ["compile", str(net), "--data", "moons", "--keep", "0.5"]
    assert CliRunner().invoke(main, [*base, "-o", str(plain)]).exit_code == 0
    r = CliRunner().invoke(main, [*base, "--extra", str(terms), "--param", "lam=2.5", "-o", str(out)])
    assert r.exit_code == 0, r.output
    p, q = ir.load(out), ir.load(plain)
    assert [c.label for c in p.constraints] == ["keep.fc1", "one-of-two"]
    assert p.metadata["parameters"] == {"lam": 2.5}
    x = [1.0] + [0.0] * 9
    assert p.energy(x) == pytest.approx(q.energy(x) + 2.5)


def test_compile_param_without_extra_is_an_error(net, tmp_path):
    r = CliRunner().invoke(main, ["compile", str(net), "--data", "moons", "--keep", "0.5", "--param", "a=1",
                                  "-o", str(tmp_path / "p.qir")])
    assert r.exit_code == 2 and "--param only makes sense with --extra" in r.output


def test_baseline_eval_apply_chain(net, tmp_path):
    mask = tmp_path / "m.json"
    r = CliRunner().invoke(main, ["baseline", str(net), "--data", "moons", "--keep", "0.3", "--method", "exact",
                                  "-o", str(mask)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", str(net), "--data", "moons", "--mask", str(mask), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["objective"] == pytest.approx(report["ir_energy"], rel=1e-9)
    assert report["masked"]["kept"] == {"fc1": "3/10"}
    pruned = tmp_path / "pruned.onnx"
    assert CliRunner().invoke(main, ["apply", str(net), str(mask), "-o", str(pruned)]).exit_code == 0
    r = CliRunner().invoke(main, ["eval", str(pruned), "--data", "moons", "--json"])
    assert json.loads(r.stdout)["dense"]["accuracy"] == pytest.approx(report["masked"]["accuracy"])
