"""Model commands: init (a seeded random MLP) and train (Adam in numpy on a dataset)."""

from __future__ import annotations

import sys

import click

from qsel import ir
from qsel.cli_base import main
from qsel.ir.outputs import check_file, writing


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ir.QselError(f"--sizes: expected comma-separated integers such as 64,256,10, got {text!r}") from None
    return sizes


@main.command()
@click.option("--sizes", required=True, metavar="N0,N1,...", help="Layer widths, inputs first: 64,256,10.")
@click.option("--act", default="relu", show_default=True,
              help="Hidden activation: relu, tanh, sigmoid, sin, sign or identity (the output layer is identity).")
@click.option("--init", "init_name", default="kaiming-uniform", show_default=True,
              help="kaiming-uniform, kaiming-normal, xavier-uniform, xavier-normal, signed-constant or uniform.")
@click.option("--bias-init", default="zeros", show_default=True, help="zeros, or uniform(+-1/sqrt(fan_in)).")
@click.option("--scale", default=1.0, show_default=True, help="Multiply every initial weight by this.")
@click.option("--task", default="classification", show_default=True,
              type=click.Choice(["classification", "regression"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--conv", default=None, metavar="C1,C2,...",
              help="A CNN: 3x3 conv layers conv1.. with these channels (padding 1) before the dense layers; "
                   "--sizes then lists the dense widths after the flatten, outputs last (e.g. --sizes 10).")
@click.option("--input-shape", default=None, metavar="C,H,W", help="--conv: the input image shape (digits: 1,8,8).")
@click.option("--strides", default=None, metavar="S1,S2,...", help="--conv: one stride per conv layer (default 1).")
@click.option("-o", "--output", required=True, metavar="OUT", help="Model file to write (.npz, .onnx, .pt).")
def init(sizes: str, act: str, init_name: str, bias_init: str, scale: float, task: str, seed: int,
         conv: str | None, input_shape: str | None, strides: str | None, output: str) -> None:
    """Write a randomly initialised MLP (layers fc1, fc2, ...) or, with --conv, a small CNN, reproducible from its
    seed."""
    from qsel.frontend.init import init_cnn, init_network
    from qsel.frontend.models import model_format, save_model

    model_format(output, for_writing=True)
    check_file(output)
    if conv is not None:
        if input_shape is None or len(_sizes(input_shape)) != 3:
            raise ir.QselError("--conv needs --input-shape C,H,W (three integers, e.g. 1,8,8 for digits)")
        dense = _sizes(sizes)
        if not dense:
            raise ir.QselError("--sizes: give at least the number of outputs after the conv layers")
        network = init_cnn(tuple(_sizes(input_shape)), _sizes(conv), dense[-1], act, seed,
                           strides=_sizes(strides) if strides else None, hidden=dense[:-1], task=task)
        with writing(output):
            save_model(network, output)
        click.echo(f"{output}: {network.metadata['source']['model']} (seed {seed}), "
                   f"{network.num_params():,} parameters", err=True)
        return
    network = init_network(_sizes(sizes), act, init_name, seed, task=task, bias_init=bias_init, scale=scale)
    with writing(output):
        save_model(network, output)
    click.echo(f"{output}: {network.metadata['source']['model']}, {init_name} init (seed {seed}), "
               f"{network.num_params():,} parameters", err=True)


@main.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", "data", required=True, metavar="D",
              help="Training data: digits, moons, circles, blobs, gaussian2d, or a .npy/.npz/.csv file.")
@click.option("--samples", type=int, default=None, metavar="N", help="Train on the first N samples only.")
@click.option("--eval-data", default=None, metavar="D",
              help="Data for the test accuracy (default: the built-in dataset's test split).")
@click.option("--epochs", default=20, show_default=True)
@click.option("--lr", default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--weight-decay", default=0.0, show_default=True, help="Decoupled (AdamW) weight decay.")
@click.option("--seed", default=0, show_default=True, help="Seed of the minibatch order.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading scikit-learn joblib/pickle and TorchScript models.")
@click.option("-o", "--output", required=True, metavar="OUT", help="Trained model (.npz, .onnx, .pt).")
def train(model: str, data: str, samples: int | None, eval_data: str | None, epochs: int, lr: float,
          batch_size: int, weight_decay: float, seed: int, trust_pickle: bool, output: str) -> None:
    """Train MODEL's dense layers with Adam (cross-entropy or squared error); print train/test accuracy."""
    from qsel.frontend import data as datasets
    from qsel.frontend import metrics
    from qsel.frontend.models import load_model, model_format, save_model
    from qsel.frontend.train import train as fit
    from qsel.progress import bar

    model_format(output, for_writing=True)
    check_file(output)  # before the model and data are read and the training runs
    network = load_model(model, trust_pickle=trust_pickle)
    train_set = datasets.check_compatible(network, datasets.load_dataset(data, "train", limit=samples))
    test_set = None
    if eval_data is not None:
        test_set = datasets.check_compatible(network, datasets.load_dataset(eval_data, "test"))
    elif data in datasets.BUILTINS:
        test_set = datasets.check_compatible(network, datasets.load_dataset(data, "test"))
    with bar(f"training {model}", epochs, enabled=sys.stderr.isatty()) as progress:
        trained, history = fit(network, train_set, epochs=epochs, lr=lr, batch_size=batch_size,
                               weight_decay=weight_decay, seed=seed, progress=progress)
    with writing(output):
        save_model(trained, output)
    last = history[-1]
    what = "accuracy" if trained.task == "classification" else "loss"
    line = (f"{output}: {epochs} epoch{'' if epochs == 1 else 's'} on {train_set.name} ({len(train_set)} samples): "
            f"train {what} ")
    line += f"{last.accuracy:.4f}" if last.accuracy is not None else f"{last.loss:.6g}"
    if test_set is not None:
        value = metrics.accuracy(trained, test_set) if what == "accuracy" else metrics.loss(trained, test_set)
        if value is not None:
            line += f", test {what} {value:.4f} ({test_set.name} {test_set.split}, {len(test_set)} samples)"
    click.echo(line)
