"""Frontend commands: compile, baseline, apply, eval."""

from __future__ import annotations

import json
import sys
import time

import click
import numpy as np

from qsel import ir
from qsel.cli_base import main
from qsel.scaleout.cli import chunk_option, cluster_option
from qsel.ir.outputs import check_file, writing

_GRANULARITIES = ("neuron", "channel", "edge")


def warning(message: str) -> None:
    """One ``qsel: warning:`` line on stderr."""
    click.echo(f"qsel: warning: {message}", err=True)


def _compile_options(f):
    """The options compile and baseline share (same problem, same batch)."""
    opts = [
        click.option("--data", "data", required=True, metavar="D",
                     help="Calibration data: digits, moons, circles, blobs, gaussian2d, or a .npy/.npz/.csv file."),
        click.option("--split", default="train", show_default=True, type=click.Choice(["train", "test"]),
                     help="Which split of a built-in dataset calibrates."),
        click.option("--samples", type=int, default=None, metavar="N", help="Use only the first N samples."),
        click.option("--objective", default="auto", show_default=True,
                     type=click.Choice(["auto", "reconstruct", "fit", "scaled", "quantize", "train"]),
                     help="auto: reconstruct for trained networks, fit for random ones; scaled: match c times "
                          "the dense logits (better at low keep); quantize/train: "
                          "discrete weights (compile and baseline, with --weights)."),
        click.option("--granularity", default="neuron", show_default=True, type=click.Choice(_GRANULARITIES)),
        click.option("--layers", default=None, metavar="L1,L2", help="Layers to select (default: every hidden layer)."),
        click.option("--keep", type=float, default=None, metavar="F", help="Fraction of units to keep per layer."),
        click.option("--keep-count", type=int, default=None, metavar="K", help="Units to keep per layer."),
        click.option("--sparsity-penalty", type=float, default=0.0, metavar="LAMBDA",
                     help="Soft alternative to --keep: add LAMBDA per kept unit."),
        click.option("--schedule", default="independent", show_default=True,
                     type=click.Choice(["independent", "sequential"])),
        click.option("--target-scale", type=float, default=None, metavar="C",
                     help="fit: use T = C * onehot(y) instead of the least-squares scale."),
        click.option("--trust-pickle", is_flag=True, help="Allow loading scikit-learn joblib/pickle models."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _weights_options(f):
    """Discrete weights (--objective quantize|train): the level grid and its encoding."""
    opts = [
        click.option("--weights", default=None, metavar="GRID",
                     help="quantize/train: binary, ternary or int{bits=B} (symmetric, scale per output unit)."),
        click.option("--levels", default=None, metavar="V1,V2,...",
                     help="quantize/train: absolute weight levels instead of --weights (one-hot encoded)."),
        click.option("--encoding", default="binary", show_default=True, type=click.Choice(["binary", "onehot"]),
                     help="quantize/train: a binary code per weight, or one-hot levels with exactly-one constraints."),
        click.option("--warm-start", default=None, type=click.Choice(["nearest", "gptq", "sign"]),
                     help="quantize/train: record this baseline's weights as the IR's initial state "
                          "(solve with warm(SOLVER) to search from it)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _levels(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ir.QselError(f"--levels: expected comma-separated numbers, got {text!r}") from None


_DISCRETE = ("quantize", "train")


def _discrete_solver(method: str):
    """Sequential discrete weights: each layer's level indices from a discrete baseline."""
    from qsel.frontend import discrete_baselines

    if method not in discrete_baselines.METHODS:
        raise ir.QselError(f"--objective quantize/train: the sequential solver must be one of "
                           f"{', '.join(discrete_baselines.METHODS)}, got {method!r}")
    return lambda data: discrete_baselines.levels(data, method)


def _load(model: str, data: str, split: str, samples: int | None, trust_pickle: bool):
    from qsel.frontend.data import check_compatible, load_dataset
    from qsel.frontend.models import load_model

    network = load_model(model, trust_pickle=trust_pickle)
    dataset = check_compatible(network, load_dataset(data, split, limit=samples))
    return network, dataset


def _build(model, data, split, samples, objective, granularity, layers, keep, keep_count, sparsity_penalty,
           schedule, target_scale, trust_pickle, solver_name: str | None, weights: str | None = None,
           levels: str | None = None, encoding: str = "binary", chunk: int | None = None,
           cluster: str | None = None, warm_start: str | None = None):
    from qsel.frontend.compile import CompileOptions, compile_network

    options = CompileOptions(
        objective=objective, granularity=granularity,
        layers=tuple(s.strip() for s in layers.split(",") if s.strip()) if layers else None,
        keep=keep, keep_count=keep_count, sparsity_penalty=sparsity_penalty, schedule=schedule,
        target_scale=target_scale, weights=weights, levels=_levels(levels), encoding=encoding,
        warm_start=warm_start)
    if chunk is not None or cluster is not None:  # scale-out: streamed batch, one task per layer
        from qsel.scaleout.cli import compile_scaled

        return compile_scaled(model, data, split, samples, options, trust_pickle, chunk, cluster)
    network, dataset = _load(model, data, split, samples, trust_pickle)
    solver = None
    if schedule == "sequential":
        if solver_name is None:
            raise ir.QselError("--schedule sequential needs --solver (greedy or exact) to pick each layer in turn")
        solver = (_discrete_solver(solver_name) if objective in _DISCRETE
                  else _baseline_solver(solver_name, network, dataset))
    meta = {
        "source": {"model": model, **network.metadata.get("source", {})},
        "calibration": {"dataset": data, "split": split, "samples": int(dataset.X.shape[0]), "limit": samples,
                        "fingerprint": dataset.fingerprint, "standardisation": dataset.standardisation},
    }
    problem = compile_network(network, dataset.X, dataset.y, options, solver=solver, metadata=meta)
    return network, dataset, problem


def _baseline_solver(method: str, network, dataset, seed: int = 0, sparsity_penalty: float = 0.0):
    from qsel.baselines import chooser

    return chooser(method, network, dataset.X, seed=seed, sparsity_penalty=sparsity_penalty)


@main.command(name="compile")
@click.argument("model", metavar="MODEL")
@_compile_options
@_weights_options
@click.option("--solver", type=click.Choice(["greedy", "exact", "nearest", "gptq", "sign"]), default=None,
              help="Solver in the loop for --schedule sequential (nearest, gptq, sign, exact: discrete weights).")
@click.option("--extra", "extra_path", default=None, metavar="TERMS.py",
              help="Add objectives/constraints written with pyqubo over the compiled labels (see qsel add-terms).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Value of a pyqubo Placeholder in --extra.")
@click.option("-o", "--output", required=True, metavar="OUT", help="IR file to write (.qir or .qirz).")
@click.option("--timing", is_flag=True, help="Report load, lowering and save times on stderr.")
@chunk_option
@cluster_option
def compile_cmd(model, data, split, samples, objective, granularity, layers, keep, keep_count, sparsity_penalty,
                schedule, target_scale, trust_pickle, weights, levels, encoding, warm_start, solver, extra_path,
                params, output, timing, chunk, cluster):
    """Lower MODEL plus a calibration batch into the neuron-interaction IR (or a discrete-weight problem)."""
    from qsel import files
    from qsel.commands.imports import parse_params

    if output != "-":
        ir.format_of(output)
    check_file(output, stdout_ok=True)  # '-' prints the IR text to stdout
    values = parse_params(params)
    if values and extra_path is None:
        raise ir.QselError("--param only makes sense with --extra TERMS.py")
    start = time.perf_counter()
    _, _, problem = _build(model, data, split, samples, objective, granularity, layers, keep, keep_count,
                           sparsity_penalty, schedule, target_scale, trust_pickle, solver, weights, levels, encoding,
                           chunk, cluster, warm_start=warm_start)
    if extra_path is not None:
        from qsel.extra_terms import add_terms, load_terms_file

        build = load_terms_file(extra_path)
        problem = add_terms(problem, build, values, source=build.path.name)
    built = time.perf_counter()
    files.save(problem, output)
    if timing:
        click.echo(f"compile {built - start:.3f} s, save {time.perf_counter() - built:.3f} s", err=True)
    click.echo(f"{output}: {problem.num_vars} variables in {len(problem.metadata['layers'])} layer(s), "
               f"{len(problem.constraints)} constraint(s)", err=True)


@main.command()
@click.argument("model", metavar="MODEL")
@_compile_options
@click.option("--method", required=True,
              type=click.Choice(["random", "magnitude", "greedy", "exact", "lasso", "obs", "nearest", "gptq", "sign"]),
              help="Discrete weights (--objective quantize/train): nearest (round to nearest), gptq (sequential "
                   "rounding with error feedback, Frantar et al. 2022), sign (binary), exact.")
@_weights_options
@click.option("--seed", default=0, show_default=True, help="Seed of the random baseline.")
@click.option("-o", "--output", required=True, metavar="MASK.json", help="Result file with the selection.")
def baseline(model, data, split, samples, objective, granularity, layers, keep, keep_count, sparsity_penalty,
             schedule, target_scale, trust_pickle, method, weights, levels, encoding, warm_start, seed, output):
    """Select units without qsel's solvers: random, magnitude, greedy, exact, lasso (He et al. 2017) or obs
    (Optimal Brain Surgeon, Hassibi & Stork 1993; SparseGPT's dampening), on the same objective."""
    if warm_start is not None:
        raise ir.QselError("--warm-start records an initial state in a compiled IR; it is a `qsel compile` option")
    from qsel.result import Result

    if not output.endswith(".json"):
        raise ir.QselError(f"-o {output!r}: the result file must end in .json")
    check_file(output)
    if objective in _DISCRETE:
        _discrete_baseline(model, data, split, samples, objective, layers, schedule, target_scale, trust_pickle,
                           weights, levels, encoding, method, output)
        return
    if method in ("nearest", "gptq", "sign"):
        raise ir.QselError(f"--method {method} rounds discrete weights; it needs --objective quantize or train")
    network, dataset, problem = _build(model, data, split, samples, objective, granularity, layers, keep,
                                       keep_count, sparsity_penalty, schedule, target_scale, trust_pickle,
                                       method if schedule == "sequential" else None)
    start = time.perf_counter()
    if schedule == "sequential":
        from qsel.frontend.compile import chosen_assignment

        x = chosen_assignment(problem)
    else:
        x = _baseline_solver(method, network, dataset, seed, sparsity_penalty)(problem)
    result = Result.from_assignment(problem, x, f"baseline:{method}", timings={"solve": time.perf_counter() - start})
    from qsel.frontend.objective import layer_energies

    result.extra["energy_per_layer"] = layer_energies(problem, result.assignment)
    with writing(output):
        result.save(output)
    click.echo(f"{output}: {method} selection, energy {result.energy:.6g}, feasible {result.feasible}", err=True)


def _discrete_baseline(model, data, split, samples, objective, layers, schedule, target_scale, trust_pickle,
                       weights, levels, encoding, method, output):
    """A discrete baseline on every layer: the same grid, scales and batch as ``qsel compile`` would use."""
    from qsel.frontend import discrete
    from qsel.frontend.discrete_apply import baseline_assignment
    from qsel.result import Result

    if method not in ("nearest", "gptq", "sign", "exact"):
        raise ir.QselError(f"--method {method} selects units; discrete weights take nearest, gptq, sign or exact")
    network, dataset = _load(model, data, split, samples, trust_pickle)
    start = time.perf_counter()
    grid = discrete.parse_grid(weights, _levels(levels), encoding)
    solver = _discrete_solver(method) if schedule == "sequential" else None
    names = tuple(s.strip() for s in layers.split(",") if s.strip()) if layers else None
    layer_data = discrete.prepare(network, dataset.X, dataset.y, objective, grid, names, target_scale,
                                  schedule=schedule, solver=solver)
    meta = {"source": {"model": model, **network.metadata.get("source", {})},
            "calibration": {"dataset": data, "split": split, "samples": int(dataset.X.shape[0]), "limit": samples,
                            "fingerprint": dataset.fingerprint, "standardisation": dataset.standardisation}}
    problem = discrete.compile_discrete(network, layer_data, schedule, meta)
    x = baseline_assignment(problem, layer_data, method)
    result = Result.from_assignment(problem, x, f"baseline:{method}", timings={"solve": time.perf_counter() - start})
    with writing(output):
        result.save(output)
    click.echo(f"{output}: {method} rounding to {grid.spec}, energy {result.energy:.6g}, feasible {result.feasible}",
               err=True)


@main.command()
@click.argument("model", metavar="MODEL")
@click.argument("result_path", metavar="RESULT.json")
@click.option("-o", "--output", required=True, metavar="OUT", help="Pruned model (.npz, .onnx, .pt).")
@click.option("--trust-pickle", is_flag=True, help="Allow loading scikit-learn joblib/pickle models.")
@click.option("--force", is_flag=True, help="Use a result computed for another model (fingerprint mismatch).")
@click.option("--refit", is_flag=True, help="Re-solve the layer after each selection by ridge least squares on the "
                                            "result's calibration batch, against the objective's target.")
@click.option("--ridge", default=1e-3, show_default=True, metavar="R",
              help="--refit: ridge lambda relative to the mean diagonal of the input Gram matrix.")
def apply(model, result_path, output, trust_pickle, force, refit, ridge):
    """Remove the units a result drops from MODEL, for real (smaller weight matrices)."""
    from qsel.ir.fingerprints import check_model
    from qsel.frontend.models import load_model, model_format, save_model
    from qsel.frontend.prune import apply_selection
    from qsel.result import Result

    model_format(output, for_writing=True)
    check_file(output)
    network = load_model(model, trust_pickle=trust_pickle)
    result = Result.load(result_path)
    result.selection.check_against(network, result_path)
    check_model(result.fingerprints.get("model"), network, result=result_path, model=model, force=force,
                warn=warning)
    from qsel.frontend.discrete import is_discrete

    if is_discrete(result.compile):  # discrete weights: MODEL with the result's weights, scales in its metadata
        from qsel.frontend.discrete_apply import discrete_network

        out = discrete_network(network, result.compile, result.assignment, result_path)
        with writing(output):
            save_model(out, output)
        click.echo(f"{output}: discrete weights ({result.compile['objective'].get('weights')}) in "
                   + ", ".join(out.metadata["discrete"]), err=True)
        return
    if refit:
        from qsel.frontend.refit import refit_from_result

        network, done = refit_from_result(network, result, result_path, ridge=ridge)
        for d in done:
            click.echo(f"refit {d.layer} (after {d.selected}, {d.objective}): error {d.error_before:.6g} -> "
                       f"{d.error_after:.6g}, lambda {d.lam:.3g}", err=True)
    pruned = apply_selection(network, result.selection)
    with writing(output):
        save_model(pruned, output)
    click.echo(f"{output}: {pruned.num_params()} parameters (was {network.num_params()}); "
               + ", ".join(f"{k} {v['kept']}/{v['of']}" for k, v in pruned.metadata.get("pruned", {}).items()),
               err=True)


@main.command(name="eval")
@click.argument("model", metavar="MODEL")
@click.option("--data", "data", required=True, metavar="D", help="Evaluation data (as for compile).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--mask", "mask_path", default=None, metavar="RESULT.json",
              help="Also evaluate the masked network and measure its objective on the calibration batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading scikit-learn joblib/pickle models.")
@click.option("--force", is_flag=True, help="Use a --mask result computed for another model (fingerprint mismatch).")
def eval_cmd(model, data, split, mask_path, as_json, trust_pickle, force):
    """Accuracy and loss of MODEL; with --mask, of the masked network and the measured objective."""
    from qsel.frontend.evaluate import evaluate
    from qsel.result import Result

    report = evaluate(model, data, split, mask_path, load_result=Result.load, trust_pickle=trust_pickle, force=force,
                      warn=warning)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    out = sys.stdout
    print(f"{model} on {data} ({split}, {report['samples']} samples)", file=out)
    print(f"  dense   accuracy {report['dense']['accuracy']:.4f}   loss {report['dense']['loss']:.4f}", file=out)
    if "discrete" in report:
        d = report["discrete"]
        print(f"  discrete accuracy {d['accuracy']:.4f}   loss {d['loss']:.4f}   ({d['weights']}, levels per unit "
              + ", ".join(f"{k} {v}" for k, v in d["levels_per_unit"].items()) + ")", file=out)
        print(f"  objective on the calibration batch: {report['objective']:.10g}   "
              + "  ".join(f"{k} {v:.6g}" for k, v in report["objective_per_layer"].items()), file=out)
        if report.get("ir_energy") is not None:
            print(f"  IR energy recorded in the result:   {report['ir_energy']:.10g}", file=out)
    if "masked" in report:
        print(f"  masked  accuracy {report['masked']['accuracy']:.4f}   loss {report['masked']['loss']:.4f}   "
              f"(kept {report['masked']['kept']})", file=out)
        print(f"  objective on the calibration batch: {report['objective']:.10g}   "
              + "  ".join(f"{k} {v:.6g}" for k, v in report["objective_per_layer"].items()), file=out)
        if report.get("ir_energy") is not None:
            print(f"  IR energy recorded in the result:   {report['ir_energy']:.10g}", file=out)
        if report.get("ir_energy_per_layer"):
            print("  per layer, objective / IR energy:   " + "   ".join(
                f"{k} {report['objective_per_layer'].get(k, float('nan')):.10g} / {v:.10g}"
                for k, v in report["ir_energy_per_layer"].items()), file=out)
