"""qsel on a real dask.distributed LocalCluster (2 worker processes): same answers, actionable errors.

One cluster for the module (started once, shut down at the end); no mocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend.compile import CompileOptions, compile_network
from qsel.frontend.data import Dataset, fingerprint
from qsel.frontend.init import init_network
from qsel.frontend.models import save_model
from qsel.targets.executor import DaskExecutor, SerialExecutor, executor_for, use_client
from strategies import scale_of

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    import dask

    # one retry instead of Dask's three keeps the worker-death test short; the rule is the same
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
        c = distributed.Client(cluster, set_as_default=False)
        try:
            yield c
        finally:
            c.close()
            cluster.close()


def _square(x: int) -> int:
    return x * x


def _pid(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


def test_dask_executor_keeps_order_and_uses_both_workers(client):
    assert isinstance(executor_for(4), object) and not isinstance(executor_for(4), DaskExecutor)
    assert isinstance(executor_for(1), SerialExecutor)
    with use_client(client):
        pool = executor_for(1)
        assert isinstance(pool, DaskExecutor)
        with pool:
            assert pool.map(_square, list(range(20))) == [x * x for x in range(20)]
            pids = set(pool.map(_pid, list(range(6))))
    assert len(pids) == 2 and os.getpid() not in pids


def _die(_: int) -> None:
    os._exit(3)


def test_a_task_whose_workers_die_is_an_error_naming_it(client):
    with use_client(client), executor_for(1, name=lambda t: f"layer 'fc{t}'",
                                          hint=lambda t: "use a smaller --chunk") as pool:
        with pytest.raises(ir.QselError, match=r"layer .fc7.: the worker running it died, on each of 2 attempt.*smaller --chunk"):
            pool.map(_die, [7])
    client.wait_for_workers(2, timeout=300)  # the nannies restart them; the other tests need both


def _multi_layer_problem(seed: int = 0) -> ir.Problem:
    net = init_network([10, 30, 24, 4], seed=seed)
    X = np.random.default_rng(seed).normal(size=(300, 10))
    return compile_network(net, X, None, CompileOptions(objective="reconstruct", keep=0.5))


@pytest.mark.parametrize("mode", [pytest.param("independent", marks=pytest.mark.slow), "iterate"])
def test_solve_gives_the_same_masks_and_energies_on_the_cluster(client, mode):
    from qsel.solving import solve_to_result
    from qsel.targets.registry import get_solver

    problem = _multi_layer_problem()
    solver = get_solver("sa")()
    kw = dict(pipeline="partition{max-vars=8}", mode=mode, num_reads=5, seed=11, max_iterations=3)
    here = solve_to_result(problem, solver, **kw)
    with use_client(client):
        there = solve_to_result(problem, solver, **kw)
    assert there.result.assignment == here.result.assignment
    assert there.result.energy == here.result.energy
    assert [it["energy"] for it in there.solution.iterations] == [it["energy"] for it in here.solution.iterations]


def test_iterate_groups_are_the_layers_and_compose_exactly():
    """Groups of blocks joined by no coupling or constraint: one per layer; the merged sweep energies are
    the whole IR's energies."""
    from qsel.targets.emit import run_pipeline
    from qsel.targets.base import blocks_of
    from qsel.targets.groups import block_groups
    from qsel.targets.solve import solve
    from qsel.targets.registry import get_solver

    problem, _ = run_pipeline(_multi_layer_problem(), "partition{max-vars=8},lower-constraints{penalty=auto}")
    blocks = blocks_of(problem, constraints="ignore")
    groups = block_groups(problem, [b.indices for b in blocks])
    layer_of = problem.variables.layer
    assert len(groups) == 2
    for g in groups:
        assert len({int(layer_of[i]) for k in g for i in blocks[k].indices}) == 1
    sol = solve(problem, get_solver("sa")(), mode="iterate", num_reads=4, seed=2, max_iterations=3)
    assert sol.iterations[-1]["energy"] == pytest.approx(sol.energy, rel=0, abs=1e-9 * scale_of(problem))


def test_layers_on_workers_match_one_process_and_the_whole_ir(client):
    """Each layer lowered, partitioned and solved where it lives: same masks and energies as in this
    process, and each layer's answer is what solving that layer's own IR gives."""
    from qsel.scaleout.layers import SolvePlan, solve_layers
    from qsel.solving import solve_to_result
    from qsel.targets.registry import get_solver

    net = init_network([10, 40, 30, 20, 4], seed=7)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 10))
    ds = Dataset(X, None, "x", "train", "classification", fingerprint(X, None), "none", None)
    options = CompileOptions(objective="reconstruct", keep=0.5)
    plan = SolvePlan(solver="sa", pipeline="partition{max-vars=12}", mode="independent", num_reads=4, seed=5,
                     baselines=("random", "greedy"))
    here = solve_layers(net, ds, options, plan, chunk=len(X))
    with use_client(client):
        there = solve_layers(net, ds, options, plan, chunk=len(X))
    assert [o.name for o in there.layers] == ["fc1", "fc2", "fc3"]
    for a, b in zip(here.layers, there.layers):
        np.testing.assert_array_equal(a.x, b.x)
        assert a.energy == b.energy and a.feasible and b.blocks == a.blocks and b.max_block <= 12
        assert {k: v[1] for k, v in a.baselines.items()} == {k: v[1] for k, v in b.baselines.items()}
    whole = compile_network(net, X, None, options)
    assert there.energy == pytest.approx(whole.energy(np.concatenate([o.x for o in there.layers])),
                                         rel=0, abs=1e-9 * scale_of(whole))
    for o in there.layers:
        one = compile_network(net, X, None, CompileOptions(objective="reconstruct", keep=0.5, layers=(o.name,)))
        run = solve_to_result(one, get_solver("sa")(), pipeline=plan.pipeline, mode="independent", num_reads=4,
                              seed=5)
        assert [run.result.assignment[lab] for lab in one.labels] == o.x.tolist()


@pytest.fixture
def files(tmp_path: Path):
    net = init_network([12, 30, 20, 5], seed=1)
    save_model(net, tmp_path / "net.npz")
    np.save(tmp_path / "batch.npy", np.random.default_rng(2).normal(size=(500, 12)))
    return tmp_path


def test_cli_compile_and_solve_with_a_cluster_address(client, files: Path):
    """--cluster tcp://... joins the running scheduler; the IR and the result equal the one-process run."""
    runner = CliRunner()
    base = ["compile", str(files / "net.npz"), "--data", str(files / "batch.npy"), "--objective", "reconstruct",
            "--keep", "0.5"]
    assert runner.invoke(main, [*base, "-o", str(files / "a.qirz")]).exit_code == 0
    r = runner.invoke(main, [*base, "--chunk", "100", "--cluster", client.scheduler.address, "-o", str(files / "b.qirz")])
    assert r.exit_code == 0, r.output
    a, b = ir.load(files / "a.qirz"), ir.load(files / "b.qirz")
    S = np.random.default_rng(0).integers(0, 2, size=(30, a.num_vars))
    np.testing.assert_allclose(b.energies(S), a.energies(S), rtol=1e-9, atol=0)
    solve = ["solve", str(files / "a.qirz"), "-s", "sa", "-p", "partition{max-vars=10}", "--mode", "iterate",
             "--seed", "3", "--num-reads", "4", "--max-iterations", "2"]
    assert runner.invoke(main, [*solve, "-o", str(files / "r1.json")]).exit_code == 0
    r = runner.invoke(main, [*solve, "--cluster", client.scheduler.address, "-o", str(files / "r2.json")])
    assert r.exit_code == 0, r.output
    import json

    r1, r2 = (json.loads((files / f"r{k}.json").read_text()) for k in (1, 2))
    assert r1["assignment"] == r2["assignment"] and r1["energy"] == r2["energy"]


@pytest.mark.slow  # 5 s: the client's connect timeout
def test_cli_unreachable_scheduler_is_one_line_and_writes_nothing(files: Path):
    out = files / "r.qirz"
    t = time.perf_counter()
    r = CliRunner().invoke(main, ["compile", str(files / "net.npz"), "--data", str(files / "batch.npy"),
                                  "--keep", "0.5", "--cluster", "tcp://127.0.0.1:9", "-o", str(out)])
    assert time.perf_counter() - t < 30  # the connect timeout, not a hang
    assert r.exit_code == 2
    assert r.output.startswith("qsel: error: --cluster tcp://127.0.0.1:9: no Dask scheduler answered")
    assert r.output.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("text", ["local:0", "local:x", "http://host:1", "tcp//x"])
def test_bad_cluster_specs_are_refused_before_any_work(text, files: Path):
    r = CliRunner().invoke(main, ["compile", str(files / "net.npz"), "--data", str(files / "batch.npy"),
                                  "--keep", "0.5", "--cluster", text, "-o", str(files / "x.qirz")])
    assert r.exit_code == 2 and r.output.startswith(f"qsel: error: --cluster {text!r}")


@pytest.mark.slow
def test_a_layer_too_big_for_its_worker_names_the_layer_and_what_to_do():
    """A worker killed by its nanny for exceeding --memory-limit while lowering a layer: the error names the
    layer, its size, the limit, and suggests a smaller chunk or more memory/workers."""
    import dask

    from qsel.scaleout.layers import SolvePlan, solve_layers

    net = init_network([8, 6000, 4], seed=0)  # a 6,000-unit layer: 290 MB per n x n array
    X = np.random.default_rng(0).normal(size=(200, 8))
    ds = Dataset(X, None, "x", "train", "classification", fingerprint(X, None), "none", None)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit="400MiB",
                                      dashboard_address=None, silence_logs=50) as cluster, \
                distributed.Client(cluster, set_as_default=False) as c, use_client(c):
            with pytest.raises(ir.QselError) as err:
                solve_layers(net, ds, CompileOptions(objective="reconstruct", keep=0.5), SolvePlan(), chunk=50)
    msg = str(err.value)
    assert "layer 'fc1'" in msg and "6000 units" in msg and "smaller --chunk" in msg and "memory limit of 0.4 GiB" in msg


@pytest.mark.slow
def test_cli_select_on_the_cluster_gives_the_same_selection(client, tmp_path: Path):
    """qsel select --cluster: layers lowered, blocks solved and baselines run on the workers; the same
    masks, energies and baseline energies as without it."""
    import json

    save_model(init_network([64, 24, 16, 10], seed=3), tmp_path / "net.npz")
    args = ["select", str(tmp_path / "net.npz"), "--data", "digits", "--samples", "300", "--objective",
            "reconstruct", "--keep", "0.5", "-s", "sa", "--num-reads", "5", "--baselines", "random,greedy"]
    runner = CliRunner()
    r = runner.invoke(main, [*args, "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, [*args, "--cluster", client.scheduler.address, "-o", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert [(row["method"], row["energy"], row["kept"]) for row in a["rows"]] == \
        [(row["method"], row["energy"], row["kept"]) for row in b["rows"]]
    ra, rb = (json.loads((tmp_path / d / "result.json").read_text()) for d in "ab")
    assert ra["assignment"] == rb["assignment"] and ra["energy"] == rb["energy"]


@pytest.mark.slow
def test_without_cluster_dask_is_never_imported(files: Path):
    """The embedded default stays one process with no Dask import cost (a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom qsel.cli import main\n"
            f"r = CliRunner().invoke(main, ['compile', {str(files / 'net.npz')!r}, '--data', "
            f"{str(files / 'batch.npy')!r}, '--objective', 'reconstruct', '--keep', '0.5', '--chunk', '100', "
            f"'-o', {str(files / 'x.qirz')!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(main, ['solve', " + repr(str(files / "x.qirz")) + ", '-s', 'sa', '--num-reads', "
            "'2', '-p', 'partition{max-vars=8}', '--mode', 'iterate', '-o', " + repr(str(files / "x.json")) + "])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _worker_settings() -> tuple:
    import dask

    return dask.config.get("distributed.worker.profile.enabled"), dask.config.get("distributed.admin.tick.interval")


def test_local_cluster_workers_run_without_the_profiler_and_env_gives_the_same_settings():
    """``--cluster local:N`` workers get qsel's settings for long CPU-bound tasks (no 10 ms profiler, a
    200 ms tick), the driver's own config is left as it was, and the environment variables the README gives
    for hand-started workers parse to exactly those settings."""
    import dask

    from qsel.cluster import WORKER_CONFIG, connect, worker_env

    before = dask.config.get("distributed.worker.profile.enabled")
    with connect("local:2") as c:
        assert set(c.run(_worker_settings).values()) == {(False, "200ms")}
    assert dask.config.get("distributed.worker.profile.enabled") == before
    parsed = dask.config.collect_env(worker_env())
    for key, value in WORKER_CONFIG.items():
        assert dask.config.get(key, config=parsed) == value


def _executor_kind(workers: int) -> str:
    return type(executor_for(workers)).__name__


def test_nested_parallel_work_on_a_worker_runs_serially_and_matches_one_process(client):
    """A decompose composite inside a block solve asks for a process pool; on a Dask worker (a daemonic
    process, which may not have children) it runs its batch serially instead of failing, with the answers it
    gives in one process (select's default solver is such a composite)."""
    from qsel.solving import solve_to_result
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_solver

    assert client.submit(_executor_kind, 2, pure=False).result() == "SerialExecutor"
    problem = _multi_layer_problem()
    solver = from_spec("decompose{block=6,batch=2,workers=2}(sa)", "solver", get_solver)
    kw = dict(pipeline="partition{max-vars=12}", mode="independent", num_reads=3, seed=5)
    here = solve_to_result(problem, solver, **kw)
    with use_client(client):
        there = solve_to_result(problem, solver, **kw)
    assert there.result.assignment == here.result.assignment and there.result.energy == here.result.energy
