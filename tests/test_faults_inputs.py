"""Hostile and mistaken inputs (issue 11, items 2, 3's submit, 4 and 6): each is refused through the CLI with exit
code 2 and exactly one ``qsel: error:`` line naming what is wrong and where, no traceback, and nothing written.

* compose reads only inside the manifest's folder: ``..`` paths, absolute paths, symlinks out, devices, fifos,
  folders, oversized files, a non-LP declared ``lp``, a cross-terms symlink, /dev/zero as a result file;
* ``submit`` with a token but no network: one line naming the endpoint; ``~/.qiskit`` is never created or changed;
* ``apply`` / ``eval``: keep lists with negative, out-of-range, duplicate, non-integer or no entries; a result
  from another model of the same shape (model fingerprint), unless ``--force``; older results only warn;
* ``compose --ir`` with the IR of another model (fingerprint), unless ``--force``;
* ``--keep-count`` larger than a layer; NaN / infinite coefficients in ``add-terms`` (file and line named).

:data:`BAD_INPUTS` counts the refused inputs below (the README's reliability section quotes it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dimod
import numpy as np
import pytest
from click.testing import CliRunner

from qsel.cli import main
from qsel.frontend.init import init_network
from qsel.frontend.models import save_model

DATA = ["--data", "moons"]


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(r, *needles: str, unwritten: tuple = ()) -> str:
    """Exit 2, one ``qsel: error:`` line holding every needle, no traceback, none of ``unwritten`` exists."""
    text = r.output if hasattr(r, "output") else r.stderr + r.stdout
    code = r.exit_code if hasattr(r, "exit_code") else r.returncode
    assert code == 2, text
    errors = [line for line in text.splitlines() if line.startswith("qsel: error:")]
    assert len(errors) == 1, text
    assert "Traceback" not in text
    for needle in needles:
        assert needle in errors[0], errors[0]
    for path in unwritten:
        assert not Path(path).exists(), path
    return errors[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two networks of the same shape (2-12-2) with other weights, a greedy result for the first, and the IRs."""
    d = tmp_path_factory.mktemp("faults")
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        out[name] = d / f"{name}.npz"
        save_model(init_network([2, 12, 2], "tanh", "kaiming-uniform", seed), out[name])
        out[f"ir_{name}"] = d / f"{name}.qir"
        r = run("compile", out[name], *DATA, "--keep-count", 4, "-o", out[f"ir_{name}"])
        assert r.exit_code == 0, r.output
    out["result"] = d / "ra.json"
    r = run("baseline", out["a"], *DATA, "--keep-count", 4, "--method", "greedy", "-o", out["result"])
    assert r.exit_code == 0, r.output
    return out


def edited_result(models, tmp_path: Path, **changes) -> Path:
    d = json.loads(models["result"].read_text())
    for key, value in changes.items():
        if key == "keep":
            d["masks"]["fc1"]["keep"] = value
        elif value is None:
            d.pop(key, None)
        else:
            d[key] = value
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(d))
    return path


# ------------------------------------------------------------------ apply / eval: keep lists (item 4)
BAD_KEEPS = [
    ([0, 1, 2, -1], "'keep'[3] = -1 is out of range", "negative"),
    ([0, 3, 3], "'keep'[2] = 3 is listed twice", "twice"),
    ([], "'keep' is empty", "at least one"),
    ([0, 1.5], "'keep'[1] = 1.5 is not an integer index", "integer"),
    ([0, True], "'keep'[1] = True is not an integer index", "integer"),
    ([0, 12], "'keep'[1] = 12 is out of range", "(12,)"),
    ([0, 2**63], "'keep'[1] = 9223372036854775808 is out of range", "(12,)"),  # not wrapped to negative
    ("0,1", "'keep' must be a list", "list"),
    ([[0], [1]], "is not an integer index", "integer"),
]


@pytest.mark.parametrize("keep, message, detail", BAD_KEEPS)
@pytest.mark.parametrize("command", ["apply", "eval"])
def test_bad_keep_lists_are_refused(models, tmp_path, command, keep, message, detail):
    path = edited_result(models, tmp_path, keep=keep)
    out = tmp_path / "pruned.npz"
    if command == "apply":
        r = run("apply", models["a"], path, "-o", out)
    else:
        r = run("eval", models["a"], *DATA, "--mask", path)
    refused(r, str(path), "layer 'fc1'", message, detail, unwritten=[out])


def test_a_good_keep_list_still_applies(models, tmp_path):
    out = tmp_path / "pruned.npz"
    r = run("apply", models["a"], models["result"], "-o", out)
    assert r.exit_code == 0 and out.exists() and "fc1 4/12" in r.output, r.output
    assert "warning" not in r.output


# ------------------------------------------------------------------ fingerprints (apply, eval, compose)
def test_results_record_model_and_ir_fingerprints(models):
    from qsel import files
    from qsel.ir.fingerprints import ir_fingerprint, model_fingerprint
    from qsel.frontend.models import load_model

    d = json.loads(models["result"].read_text())
    fa, fb = model_fingerprint(load_model(str(models["a"]))), model_fingerprint(load_model(str(models["b"])))
    assert d["fingerprints"]["model"] == fa != fb
    ir_a = files.load(str(models["ir_a"]))
    assert ir_a.metadata["source"]["fingerprint"] == fa
    assert ir_fingerprint(ir_a) == ir_fingerprint(files.load(str(models["ir_a"])))  # read back: the same
    assert ir_fingerprint(ir_a) != ir_fingerprint(files.load(str(models["ir_b"])))


@pytest.mark.parametrize("command", ["apply", "eval"])
def test_a_result_from_another_model_is_refused_unless_forced(models, tmp_path, command):
    out = tmp_path / "pruned.npz"
    args = (["apply", models["b"], models["result"], "-o", out] if command == "apply"
            else ["eval", models["b"], *DATA, "--mask", models["result"]])
    line = refused(run(*args), str(models["result"]), str(models["b"]), "another model", "--force", unwritten=[out])
    recorded = json.loads(models["result"].read_text())["fingerprints"]["model"]
    assert recorded in line
    r = run(*args, "--force")
    assert r.exit_code == 0, r.output
    assert sum(line.startswith("qsel: warning:") for line in r.output.splitlines()) == 1
    if command == "apply":
        assert out.exists()


def test_an_older_result_without_fingerprints_only_warns(models, tmp_path):
    path = edited_result(models, tmp_path, fingerprints=None)
    out = tmp_path / "pruned.npz"
    r = run("apply", models["a"], path, "-o", out)
    assert r.exit_code == 0 and out.exists(), r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("qsel: warning:")]
    assert len(warnings) == 1 and "no model fingerprint" in warnings[0]


def test_malformed_fingerprints_are_refused(models, tmp_path):
    path = edited_result(models, tmp_path, fingerprints=["sha256:0"])
    refused(run("apply", models["a"], path, "-o", tmp_path / "p.npz"), str(path), "'fingerprints'",
            unwritten=[tmp_path / "p.npz"])


@pytest.fixture(scope="module")
def emitted(models, tmp_path_factory) -> dict[str, Path]:
    """IR a emitted as one dimod BQM block, and a sample set for it."""
    d = tmp_path_factory.mktemp("emitted")
    folder = d / "bqm"
    r = run("emit", models["ir_a"], "-t", "dimod-bqm", "-o", folder)
    assert r.exit_code == 0, r.output
    manifest = json.loads((folder / "manifest.json").read_text())
    labels = manifest["blocks"][0]["labels"]
    ss = dimod.SampleSet.from_samples([{lab: int(i < 4) for i, lab in enumerate(labels)}], "BINARY", [0.0])
    samples = d / "s.json"
    samples.write_text(json.dumps(ss.to_serializable()))
    return {"folder": folder, "samples": samples, "manifest": manifest}


def test_compose_refuses_the_ir_of_another_model_unless_forced(models, emitted, tmp_path):
    out = tmp_path / "r.json"
    args = ["compose", emitted["folder"], emitted["samples"], "-o", out]
    r = run(*args, "--ir", models["ir_a"])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["fingerprints"]["model"] == json.loads(
        models["result"].read_text())["fingerprints"]["model"]
    out.unlink()
    refused(run(*args, "--ir", models["ir_b"]), str(models["ir_b"]), "another model", "--force", unwritten=[out])
    r = run(*args, "--ir", models["ir_b"], "--force")
    assert r.exit_code == 0 and out.exists(), r.output
    assert any(line.startswith("qsel: warning:") for line in r.output.splitlines())


# ------------------------------------------------------------------ compose stays in the manifest's folder (item 2)
def hostile_manifest(emitted, tmp_path: Path, file: str, fmt: str = "dimod-bqm", **energy) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    for f in emitted["folder"].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    m = json.loads(json.dumps(emitted["manifest"]))
    m["blocks"][0].update(file=file, format=fmt)
    m["energy"].update(energy)
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder


def compose_refused(emitted, folder: Path, tmp_path: Path, *needles: str, where: str = "manifest.json") -> str:
    out = tmp_path / "out.json"
    r = run("compose", folder, emitted["samples"], "-o", out)
    line = refused(r, str(folder / where), *needles, unwritten=[out])
    assert "root:" not in r.output  # nothing of /etc/passwd is echoed
    return line


@pytest.mark.parametrize("file, fmt", [
    ("../../../../../../../../etc/passwd", "dimod-bqm"),
    ("/etc/passwd", "coo"),
    ("/etc/hostname", "lp"),
    ("/dev/zero", "coo"),
    ("sub/../../outside.bqm", "dimod-bqm"),
])
def test_compose_refuses_files_outside_the_folder(emitted, tmp_path, file, fmt):
    (tmp_path / "outside.bqm").write_bytes((emitted["folder"] / "all.bqm").read_bytes())
    folder = hostile_manifest(emitted, tmp_path, file, fmt)
    compose_refused(emitted, folder, tmp_path, "block 'all'", repr(file), "outside the manifest's folder")


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero", "../outside.bqm"])
def test_compose_refuses_a_symlink_out_of_the_folder(emitted, tmp_path, target):
    (tmp_path / "outside.bqm").write_bytes((emitted["folder"] / "all.bqm").read_bytes())
    folder = hostile_manifest(emitted, tmp_path, "link.bqm")
    (folder / "link.bqm").symlink_to(target)
    compose_refused(emitted, folder, tmp_path, "'link.bqm'", "outside the manifest's folder")


def test_compose_refuses_a_symlink_loop(emitted, tmp_path):
    folder = hostile_manifest(emitted, tmp_path, "loop.bqm")
    (folder / "loop.bqm").symlink_to("loop.bqm")
    compose_refused(emitted, folder, tmp_path, "'loop.bqm'")


def test_compose_refuses_a_fifo_and_a_folder(emitted, tmp_path):
    folder = hostile_manifest(emitted, tmp_path, "pipe.coo", "coo")
    os.mkfifo(folder / "pipe.coo")
    compose_refused(emitted, folder, tmp_path, "'pipe.coo'", "not a regular file")
    (tmp_path / "x").mkdir()
    folder = hostile_manifest(emitted, tmp_path / "x", "sub", "coo")
    (folder / "sub").mkdir()
    compose_refused(emitted, folder, tmp_path, "'sub'", "is a folder")


def test_compose_refuses_a_block_file_larger_than_its_variables_allow(emitted, tmp_path):
    from qsel.targets.compose import block_byte_cap
    from qsel.targets.manifest import Manifest

    folder = hostile_manifest(emitted, tmp_path, "huge.coo", "coo")
    with open(folder / "huge.coo", "wb") as fh:  # a sparse file: no disk used, 1 GiB declared
        fh.truncate(1 << 30)
    line = compose_refused(emitted, folder, tmp_path, "'huge.coo'", str(1 << 30), "12 variables")
    manifest = Manifest.load(emitted["folder"] / "manifest.json")
    entry = manifest.blocks[0]
    assert str(block_byte_cap(entry, len(manifest.constraints) + len(manifest.lowered_constraints))) in line
    assert (emitted["folder"] / "all.bqm").stat().st_size < block_byte_cap(entry) / 10  # honest files: far below


def test_compose_refuses_a_text_file_declared_lp(emitted, tmp_path):
    folder = hostile_manifest(emitted, tmp_path, "host.lp", "lp")
    (folder / "host.lp").write_text("myhost\n")
    compose_refused(emitted, folder, tmp_path, "'host.lp'", "not an LP file")


def test_compose_refuses_an_unreadable_block_file_instead_of_noting_it(emitted, tmp_path):
    folder = hostile_manifest(emitted, tmp_path, "bad.coo", "coo")
    (folder / "bad.coo").write_text("0 1 nonsense\n")
    compose_refused(emitted, folder, tmp_path, ":1:", "expected 'i j bias'", where="bad.coo")


def test_compose_refuses_a_cross_terms_symlink_out_of_the_folder(emitted, tmp_path):
    folder = hostile_manifest(emitted, tmp_path, "all.bqm", cross_file="cross_terms.npz")
    (folder / "cross_terms.npz").symlink_to("/etc/passwd")
    compose_refused(emitted, folder, tmp_path, "cross-terms", "outside the manifest's folder")


def test_compose_refuses_dev_zero_as_a_result_file(emitted, tmp_path):
    out = tmp_path / "out.json"
    refused(run("compose", emitted["folder"], "/dev/zero", "-o", out), "/dev/zero", "not a regular file",
            unwritten=[out])


def test_a_missing_block_file_is_a_note_not_an_error(emitted, tmp_path):
    folder = hostile_manifest(emitted, tmp_path, "gone.bqm")
    out = tmp_path / "out.json"
    r = run("compose", folder, emitted["samples"], "-o", out)
    assert r.exit_code == 0 and out.exists(), r.output
    assert "'gone.bqm' is missing" in r.output


# ------------------------------------------------------------------ silent changes (item 6)
@pytest.mark.parametrize("command", ["compile", "baseline"])
def test_keep_count_larger_than_the_layer_is_refused(models, tmp_path, command):
    out = tmp_path / ("p.qir" if command == "compile" else "r.json")
    extra = ["--method", "greedy"] if command == "baseline" else []
    r = run(command, models["a"], *DATA, "--keep-count", 1000, *extra, "-o", out)
    refused(r, "--keep-count 1000", "layer 'fc1'", "12 units", unwritten=[out])


NAN_TERMS = [
    ("literal", "def terms(x, problem):\n    a = x['fc1.n0']\n    return float('nan') * a\n", 3),
    ("made earlier", "import math\n\ndef terms(x, problem):\n    w = [1.0, math.inf]\n"
                     "    H = 0.0 * x['fc1.n0']\n    for i in range(2):\n        H = H + w[i] * x[f'fc1.n{i}']\n"
                     "    return H\n", 4),
    ("in a coupling", "def terms(x, problem):\n    a, b = x['fc1.n0'], x['fc1.n1']\n    H = 2.0 * a\n"
                      "    H = H + float('nan') * a * b\n    return H\n", 4),
    ("overflow", "def terms(x, problem):\n    a, b = x['fc1.n0'], x['fc1.n1']\n    big = 1e200\n"
                 "    return (big * a) * (big * b) + a\n", 4),
    ("in a constraint", "from pyqubo import Constraint\n\ndef terms(x, problem):\n    a = x['fc1.n0']\n"
                        "    return Constraint(float('nan') * a, label='c') + a\n", 5),
    ("in the offset", "def terms(x, problem):\n    return x['fc1.n0'] + float('-inf')\n", 2),
]


@pytest.mark.parametrize("name, text, line", NAN_TERMS, ids=[t[0] for t in NAN_TERMS])
def test_non_finite_terms_are_refused_with_file_and_line(models, tmp_path, name, text, line):
    terms = tmp_path / "terms.py"
    terms.write_text(text)
    out = tmp_path / "out.qir"
    refused(run("add-terms", models["ir_a"], terms, "-o", out), f"{terms}:{line}:", "NaN or infinite",
            unwritten=[out])


def test_non_finite_extra_terms_at_compile_are_refused(models, tmp_path):
    terms = tmp_path / "terms.py"
    terms.write_text(NAN_TERMS[0][1])
    out = tmp_path / "p.qir"
    refused(run("compile", models["a"], *DATA, "--keep-count", 4, "--extra", terms, "-o", out),
            f"{terms}:3:", unwritten=[out])


# ------------------------------------------------------------------ submit without network (items 3, 6)
def clean_env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DWAVE_", "QISKIT_", "XDG_CONFIG", "XDG_DATA"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               **extra)
    return env


def submit(layer: Path, out: Path, to: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsel.cli", "submit", str(layer), "--to", to, "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("submit") / "layer.qir"
    assert run("example", "--units", 8, "--keep", 0.25, "-o", path).exit_code == 0
    return path


@pytest.mark.slow  # qiskit-ibm-runtime's import and its retries: about 6 s
def test_ibm_token_without_network_names_the_endpoint_and_writes_nothing(layer, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "r.json"
    env = clean_env(home, QISKIT_IBM_TOKEN="sekrit-token-1", QISKIT_IBM_URL="http://127.0.0.1:9")
    line = refused(submit(layer, out, "ibm", env), "IBM Quantum at http://127.0.0.1:9", "could not be reached",
                   unwritten=[out, home / ".qiskit"])
    assert "sekrit" not in line


@pytest.mark.slow  # qiskit-ibm-runtime's import and its retries: about 6 s
def test_ibm_saved_account_without_network_is_left_as_it_was(layer, tmp_path):
    home = tmp_path / "home"
    (home / ".qiskit").mkdir(parents=True)
    account = home / ".qiskit" / "qiskit-ibm.json"
    text = json.dumps({"default-ibm-quantum-platform": {
        "channel": "ibm_quantum_platform", "token": "sekrit-token-2", "url": "http://127.0.0.1:9",
        "instance": "crn:v1:bluemix:public:quantum-computing:us-east:a/0::", "private_endpoint": False,
        "is_default_account": True}})
    account.write_text(text)
    before = account.stat().st_mtime_ns
    out = tmp_path / "r.json"
    r = submit(layer, out, "ibm", clean_env(home))
    refused(r, "IBM Quantum", unwritten=[out])
    assert "sekrit" not in r.stderr
    assert account.read_text() == text and account.stat().st_mtime_ns == before
    assert sorted(p.name for p in (home / ".qiskit").iterdir()) == ["qiskit-ibm.json"]


def test_ibm_without_credentials_creates_no_account_file(layer, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "r.json"
    refused(submit(layer, out, "ibm", clean_env(home)), "no IBM Quantum account configured",
            unwritten=[out, home / ".qiskit"])


@pytest.mark.slow
@pytest.mark.parametrize("to", ["dwave", "dwave-hybrid"])
def test_dwave_token_without_network_names_the_endpoint(layer, tmp_path, to):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "r.json"
    env = clean_env(home, DWAVE_API_TOKEN="sekrit-token-3", DWAVE_API_ENDPOINT="http://127.0.0.1:9/sapi/v2/")
    line = refused(submit(layer, out, to, env), "D-Wave Leap", "at http://127.0.0.1:9/sapi/v2/",
                   "could not be reached", unwritten=[out])
    assert "sekrit" not in line


# ------------------------------------------------------------------ the count the README quotes
BAD_INPUTS = (
    2 * len(BAD_KEEPS)  # apply and eval
    + 2 + 1  # another model's result (apply, eval), malformed fingerprints
    + 1  # compose --ir of another model
    + 5 + 3 + 1 + 2 + 1 + 1 + 1 + 1 + 1  # compose: outside paths, symlinks, loop, fifo+folder, size, lp, unreadable,
    #                                      cross-terms symlink, /dev/zero result
    + 2  # --keep-count (compile, baseline)
    + len(NAN_TERMS) + 1  # add-terms, compile --extra
    + 3 + 2  # submit: ibm token, ibm saved account, ibm no credentials; dwave and dwave-hybrid (slow)
)



def test_an_npz_model_that_inflates_past_memory_is_refused_before_inflating(tmp_path, monkeypatch):
    # a zip bomb declares its inflated size in the zip directory; the reader compares it with the machine's
    # memory before np.load inflates anything (here the machine is made 1 MiB small: 8 MiB of zeros deflate
    # to a few KiB)
    from qsel import ir
    from qsel.frontend.formats import npz

    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, meta=np.array("{}"), **{"layers.0.weight": np.zeros((1024, 1024))})
    assert path.stat().st_size < 64 * 1024
    monkeypatch.setattr(npz, "_memory_bytes", lambda: 2**20)
    with pytest.raises(ir.FormatError, match=r"bomb.npz: its arrays inflate to 0.0 GiB, more than this machine's"):
        npz.load_npz(path)
