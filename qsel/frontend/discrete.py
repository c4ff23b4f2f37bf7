"""Discrete weights as a QUBO: level grids, their binary encodings, and one problem per output unit.

For a dense layer with inputs A (m x n), one output unit's weights w (n) and
its target t (m, the layer's bias already removed),

    E(w) = 1/m || A w - t ||^2 = w^T G w - 2 w.a + tt,   G = A^T A / m,  a = A^T t / m,  tt = t.t / m.

Every weight is written with nb binary variables, w_i = sum_b c_b x_{i,b} + w0
(c and w0 carry the output unit's scale s: c = s c^u, w0 = s w0^u). With
x = (x_{1,1..nb}, ..., x_{n,1..nb}) (weight-major) and C = I_n kron c,

    E(x) = x^T Q x - 2 r.x + const,
    Q = G kron (c c^T),   r = C^T (a - w0 G 1) = (a - w0 G 1) kron c,
    const = w0^2 1^T G 1 - 2 w0 1.a + tt,

the same (Q, r, const) form the neuron objective uses (:class:`lowering.Terms`),
so x_{i,b}^2 = x_{i,b} gives the IR's h = diag Q - 2 r and J = 2 triu(Q, 1).
The IR energy of any code therefore *is* the measured error of the decoded
weights on the calibration batch.

Conv layers (``quantize`` only): a conv2d layer with weight (O, C, kh, kw) computes
output channel o at every (sample, position) as patches @ w_o + b_o, with the
im2col patches (m*P x C*kh*kw, :func:`network.unfold`). One output channel is
therefore one problem exactly like a dense output unit, with A = the patches
(N = m*P rows), n = C*kh*kw and t = the channel's pre-activation at every
position; the energy stays 1/m sum over samples *and positions* (G = A^T A / m,
a = A^T t / m with m the number of samples, not N), which is what the decoded
network's error measures. A conv weight's input index in its label is the
flattened one, i = c*kh*kw + ky*kw + kx (``conv1.w3_17.b1``: output channel 3,
input channel 1, ky = 2, kx = 2 for 3x3 kernels), with the same layer/output/input
provenance; decoded weights are reshaped to (O, C, kh, kw).

Grids (``--weights``), levels for unit scale, and their default encoding:

| spec          | levels q^u                      | encoding (c^u; w0^u)                        | variables/weight |
|---------------|---------------------------------|---------------------------------------------|------------------|
| binary        | {-1, 1}                         | w = 2x - 1           (2; -1)                | 1                |
| ternary       | {-1, 0, 1}                      | w = x_a - x_b        (1, -1; 0)             | 2 (0 twice)      |
| int{bits=B}   | {-(2^B-1), ..., -1, 1, ..., 2^B-1} (odd, step 2) | w = 2 sum_b 2^b x_b - (2^B-1) | B             |
| --levels L    | L, absolute (scale 1)           | one-hot: w = sum_j L_j x_j, sum_j x_j = 1    | len(L)           |

``--encoding onehot`` writes any grid one-hot (one exactly-one constraint per
weight, lowered per target as usual). Ternary's two-bit code needs no
constraint: (1,1) and (0,0) both decode to 0.

Scale: symmetric grids get one scale s_o per output unit, fitted by least
squares to the reference weights w_ref (the layer's own weights for
``quantize``, the ridge least-squares read-out for ``train``): alternate
q = nearest level of w/s and s = <w, q>/<q, q> (Lloyd's iteration for a
scaled grid; each step cannot increase ||w - s q||^2) from two starts, the
grid's extreme at max|w| and at the RMS of w, keeping the better one. For ``train`` the scale is then
refitted on the outputs (:func:`output_scales`).

Targets: ``quantize`` matches the full-precision layer's own pre-activation
on the calibration batch (t = A w_fp, E(w_fp) = 0); ``train`` matches the
labels at the output layer, T = c onehot(y) - b (classification, c from
``--target-scale``, default 1) or T = y - b (regression).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from qsel import ir

from . import lowering
from .network import Layer, Network, Trace, unfold

KINDS = ("quantize", "train")
ENCODINGS = ("binary", "onehot")
_INT = re.compile(r"int\{\s*bits\s*=\s*(\d+)\s*\}\Z")
MAX_BITS = 8
LLOYD_STEPS = 30
RIDGE = 1e-3


@dataclass(frozen=True)
class Grid:
    """A layer's level grid for unit scale and the binary code that reaches it.

    ``codes`` (L x nb) holds one code per level (the first code in counting order that decodes to it), so
    ``codes @ coeffs + w0 == levels``; ``fitted`` says whether each output unit gets a least-squares scale."""

    spec: str
    levels: np.ndarray  # (L,) ascending, unit scale
    encoding: str  # binary | onehot
    coeffs: np.ndarray  # (nb,)
    w0: float
    codes: np.ndarray  # (L, nb) 0/1
    fitted: bool

    @property
    def bits(self) -> int:
        return int(self.coeffs.shape[0])

    @property
    def suffix(self) -> str:
        """Label suffix of a variable: ``b`` (code bit) or ``l`` (one-hot level)."""
        return "l" if self.encoding == "onehot" else "b"

    def nearest(self, w: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Index of the nearest level of s_o q^u for every weight (rows = output units)."""
        grid = self.levels[None, None, :] * scale[:, None, None]
        return np.argmin(np.abs(w[:, :, None] - grid), axis=2)

    def to_json(self) -> dict:
        return {"spec": self.spec, "levels": self.levels.tolist(), "encoding": self.encoding,
                "coeffs": self.coeffs.tolist(), "w0": self.w0, "fitted": self.fitted}

    @classmethod
    def from_json(cls, d: dict, where: str) -> "Grid":
        try:
            return make_grid(np.asarray(d["levels"], float), d["encoding"], str(d["spec"]), bool(d["fitted"]),
                             np.asarray(d["coeffs"], float), float(d["w0"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ir.QselError(f"{where}: the discrete grid record is malformed ({exc})") from None


def make_grid(levels: np.ndarray, encoding: str, spec: str, fitted: bool, coeffs: np.ndarray | None = None,
              w0: float = 0.0) -> Grid:
    """A grid from its levels; one-hot when ``coeffs`` is None or ``encoding`` says so."""
    levels = np.asarray(levels, dtype=np.float64)
    if encoding == "onehot" or coeffs is None:
        L = levels.shape[0]
        return Grid(spec, levels, "onehot", levels.copy(), 0.0, np.eye(L), fitted)
    coeffs = np.asarray(coeffs, dtype=np.float64)
    nb = coeffs.shape[0]
    every = np.array(list(itertools.product((0.0, 1.0), repeat=nb)))[:, ::-1]  # counting order, bit 0 first
    values = every @ coeffs + w0
    codes = np.empty((levels.shape[0], nb))
    for j, q in enumerate(levels):
        hit = np.flatnonzero(np.abs(values - q) <= 1e-12 * max(1.0, abs(q)))
        if not hit.size:
            raise ValueError(f"level {q} is not reachable by the code")
        codes[j] = every[hit[0]]
    if not np.all(np.any(np.abs(values[:, None] - levels[None, :]) <= 1e-12, axis=1)):
        raise ValueError("the code reaches a value outside the level grid")
    return Grid(spec, levels, "binary", coeffs, float(w0), codes, fitted)


def parse_grid(weights: str | None, levels: tuple[float, ...] | None, encoding: str) -> Grid:
    """``--weights binary|ternary|int{bits=B}`` or ``--levels v1,v2,...`` (+ ``--encoding``) -> a Grid."""
    if encoding not in ENCODINGS:
        raise ir.QselError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if levels:
        if weights is not None:
            raise ir.QselError("give --weights or --levels, not both")
        vals = np.unique(np.asarray(levels, dtype=np.float64))
        if vals.shape[0] < 2 or not np.all(np.isfinite(vals)):
            raise ir.QselError(f"--levels needs at least two distinct finite values, got {list(levels)}")
        return make_grid(vals, "onehot", "levels", False)
    if weights is None:
        raise ir.QselError("--objective quantize/train needs --weights binary|ternary|int{bits=B} or --levels")
    spec = weights.strip()
    if spec == "binary":
        return make_grid(np.array([-1.0, 1.0]), encoding, spec, True, np.array([2.0]), -1.0)
    if spec == "ternary":
        return make_grid(np.array([-1.0, 0.0, 1.0]), encoding, spec, True, np.array([1.0, -1.0]), 0.0)
    m = _INT.match(spec)
    if m is None:
        raise ir.QselError(f"--weights: expected binary, ternary or int{{bits=B}}, got {weights!r}")
    B = int(m.group(1))
    if not 1 <= B <= MAX_BITS:
        raise ir.QselError(f"--weights int{{bits=B}}: B must be in 1..{MAX_BITS}, got {B}")
    top = 2**B - 1
    return make_grid(np.arange(-top, top + 1, 2, dtype=np.float64), encoding, f"int{{bits={B}}}", True,
                     2.0 ** (np.arange(B) + 1), -float(top))


def fit_scales(grid: Grid, w_ref: np.ndarray) -> np.ndarray:
    """Per-row least-squares scale s_o of the grid to w_ref (k x n); 1 for an absolute (user) grid."""
    k = w_ref.shape[0]
    if not grid.fitted:
        return np.ones(k)
    top = float(np.max(np.abs(grid.levels)))
    rms_levels = float(np.sqrt(np.mean(grid.levels**2)))
    best_s, best_err = None, None
    for s in (np.max(np.abs(w_ref), axis=1) / top, np.sqrt(np.mean(w_ref**2, axis=1)) / rms_levels):
        s = np.where(s > 0, s, 1.0)
        for _ in range(LLOYD_STEPS):
            q = grid.levels[grid.nearest(w_ref, s)]
            qq = np.einsum("ij,ij->i", q, q)
            s = np.where(qq > 0, np.einsum("ij,ij->i", w_ref, q) / np.where(qq > 0, qq, 1.0), s)
            s = np.where(s > 0, s, 1.0)
        err = np.sum((w_ref - s[:, None] * grid.levels[grid.nearest(w_ref, s)]) ** 2, axis=1)
        if best_s is None:
            best_s, best_err = s, err
        else:
            better = err < best_err
            best_s, best_err = np.where(better, s, best_s), np.where(better, err, best_err)
    assert best_s is not None
    return best_s


@dataclass
class LayerData:
    """Everything one layer's problem and its baselines need: inputs, targets, reference weights, grid, scales.

    Dense: A is (m, n), one row per sample. Conv: A is the im2col patches (m*P, C*kh*kw), T the channels'
    targets at every position (m*P, O); ``samples`` = m (the energy's 1/m) and ``layer_shape`` = (O, C, kh, kw)."""

    name: str
    kind: str  # quantize | train
    A: np.ndarray  # (m, n) inputs, flattened
    T: np.ndarray  # (m, k) targets with the bias removed
    w_ref: np.ndarray  # (k, n)
    grid: Grid
    scales: np.ndarray  # (k,)
    target_scale: float | None = None
    chosen: np.ndarray | None = None  # sequential: the level indices the in-loop solver picked (k x n)
    samples: int | None = None  # m when A has several rows per sample (conv patches); None: one row each
    layer_shape: tuple[int, ...] | None = None  # the layer's weight shape when not (k, n) (conv)

    @property
    def shape(self) -> tuple[int, int]:
        return self.w_ref.shape

    @property
    def m(self) -> int:
        """Calibration samples: the energy's normaliser (rows of A for a dense layer)."""
        return int(self.A.shape[0] if self.samples is None else self.samples)

    def unit_errors(self, W: np.ndarray) -> np.ndarray:
        """E_o = 1/m ||A w_o - t_o||^2 for every output unit o of weights W (k x n)."""
        R = self.A @ W.T - self.T
        return np.einsum("so,so->o", R, R) / self.m

    def levels_of(self, idx: np.ndarray) -> np.ndarray:
        """Weights (k x n) from level indices (k x n)."""
        return self.grid.levels[idx] * self.scales[:, None]


def check_layers(network: Network, kind: str, layers: tuple[str, ...] | None) -> list[str]:
    """The layers to discretise (default: every dense and conv layer for quantize, the output layer for train)."""
    if layers:
        names = list(layers)
    else:
        names = network.names if kind == "quantize" else [network.layers[-1].name]
    for name in names:
        if name not in network.names:
            raise ir.QselError(f"--layers: no layer named {name!r} (layers: {', '.join(network.names)})")
        layer = network.layer(name)
        if layer.kind not in ("dense", "conv2d"):
            raise ir.QselError(f"--layers: layer {name!r} is {layer.kind}; discrete weights need dense or conv2d "
                               f"layers")
        if kind == "train" and layer is not network.layers[-1]:
            raise ir.QselError(f"--objective train: layer {name!r} has no label target (only the output layer "
                               f"{network.layers[-1].name!r} has); use --objective quantize for hidden layers")
        if kind == "train" and layer.kind != "dense":
            raise ir.QselError(f"--objective train: the output layer {name!r} is {layer.kind}; a label target "
                               f"needs a dense output layer")
    if len(set(names)) != len(names):
        raise ir.QselError("--layers: a layer is named twice")
    return sorted(names, key=network.index)


def layer_data(network: Network, name: str, kind: str, grid: Grid, seen: Trace, dense: Trace,
               Y: np.ndarray | None, target_scale: float | None) -> LayerData:
    """Inputs A as the (possibly already discretised) network sees them, the target and the fitted grid."""
    layer: Layer = network.layer(name)
    if layer.kind == "conv2d":
        return conv_data(layer, grid, seen, dense)
    A = seen.inputs[name]
    A = A.reshape(A.shape[0], -1)
    if kind == "quantize":
        T = dense.pre[name] - layer.bias
        w_ref = layer.weight
        c = None
    else:
        assert Y is not None
        c = 1.0 if target_scale is None else float(target_scale)
        T = (c * Y if network.task == "classification" else Y) - layer.bias
        w_ref = ridge(A, T)
    scales = fit_scales(grid, w_ref)
    if kind == "train" and grid.fitted:
        scales = output_scales(grid, A, T, w_ref, scales)
    return LayerData(name, kind, A, T, np.asarray(w_ref, dtype=np.float64), grid, scales, c)


def conv_data(layer: Layer, grid: Grid, seen: Trace, dense: Trace) -> LayerData:
    """quantize on a conv layer: A = the im2col patches of its input (m*P, C*kh*kw), T = every channel's
    full-precision pre-activation minus its bias at every (sample, position) (m*P, O), sample-major then
    position, as the patches' rows."""
    W = layer.weight
    O = W.shape[0]
    cols, _ = unfold(seen.inputs[layer.name], W.shape[2], W.shape[3], layer.stride, layer.padding)
    m, P, n = cols.shape
    A = cols.reshape(m * P, n)
    pre = dense.pre[layer.name] - layer.bias[None, :, None, None]  # (m, O, oh, ow)
    T = pre.reshape(m, O, P).transpose(0, 2, 1).reshape(m * P, O)
    w_ref = np.asarray(W, dtype=np.float64).reshape(O, n)
    return LayerData(layer.name, "quantize", A, T, w_ref, grid, fit_scales(grid, w_ref), samples=m,
                     layer_shape=tuple(int(v) for v in W.shape))


def ridge(A: np.ndarray, T: np.ndarray, lam: float = RIDGE) -> np.ndarray:
    """The read-out w_ref (k x n) = argmin ||A w - t||^2 + lam' ||w||^2, lam' = lam * tr(A^T A)/n.

    Plain least squares on random features is often ill-conditioned (weights of 1e12 that cancel); a small
    ridge keeps the reference weights, and so the grid's scale, at the size of the output."""
    G = lowering.gram(A)
    n = G.shape[0]
    G[np.diag_indices(n)] += lam * max(float(np.trace(G)) / n, 1e-300)
    return np.linalg.solve(G, A.T @ T).T


def output_scales(grid: Grid, A: np.ndarray, T: np.ndarray, w_ref: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """train: refit each output's scale on the outputs, s_o = <A q_o, t_o> / ||A q_o||^2 with q_o the rounded
    w_ref (the scale that makes the rounded read-out match the target best); kept when <= 0."""
    Q = grid.levels[grid.nearest(w_ref, scales)]
    Z = A @ Q.T
    zz = np.einsum("so,so->o", Z, Z)
    s = np.einsum("so,so->o", Z, T) / np.where(zz > 0, zz, 1.0)
    return np.where((zz > 0) & (s > 0), s, scales)


def labels_of(name: str, k: int, n: int, grid: Grid) -> np.ndarray:
    """Labels ``NAME.wO_I.bB`` (code bit) or ``NAME.wO_I.lJ`` (one-hot level), output-major, then weight, bit."""
    o, i, b = np.meshgrid(np.arange(k), np.arange(n), np.arange(grid.bits), indexing="ij")
    stem = np.char.add(np.char.add(f"{name}.w", o.ravel().astype(str)), "_")
    stem = np.char.add(np.char.add(stem, i.ravel().astype(str)), f".{grid.suffix}")
    return np.char.add(stem, b.ravel().astype(str))


def unit_terms(G: np.ndarray, a: np.ndarray, tt: float, c: np.ndarray, w0: float) -> lowering.Terms:
    """(Q, r, const) of one output unit: Q = G kron c c^T, r = (a - w0 G 1) kron c, const as in the module doc."""
    g1 = G.sum(axis=1)
    return lowering.Terms(np.kron(G, np.outer(c, c)), np.kron(a - w0 * g1, c),
                          float(w0 * w0 * g1.sum() - 2.0 * w0 * a.sum() + tt))


def layer_problem(data: LayerData) -> tuple[ir.Problem, dict]:
    """The IR of one layer: a partition (and a dense block) per output unit; one-hot constraints per weight."""
    k, n = data.shape
    m = data.m
    grid = data.grid
    nb = grid.bits
    G = lowering.gram(data.A) / m
    AT = data.A.T @ data.T / m
    tt = np.einsum("so,so->o", data.T, data.T) / m
    labels = labels_of(data.name, k, n, grid)
    parts = []
    for o in range(k):
        s = float(data.scales[o])
        h, upper, offset = unit_terms(G, AT[:, o], float(tt[o]), s * grid.coeffs, s * grid.w0).ir_arrays()
        idx = np.arange(n * nb, dtype=np.int64)
        variables = ir.Variables.build(labels[o * n * nb:(o + 1) * n * nb], layer=data.name,
                                       unit=np.repeat(np.arange(n), nb), output=np.full(n * nb, o),
                                       granularity=ir.Granularity.GENERIC)
        cons = ()
        if grid.encoding == "onehot":
            cons = tuple(ir.Constraint.cardinality(f"onehot.{data.name}.w{o}_{i}", idx[i * nb:(i + 1) * nb], "==", 1)
                         for i in range(n))
        parts.append(ir.Problem(variables, h, offset, (ir.DenseBlock(idx, upper),), constraints=cons,
                                partitions=(ir.Partition(f"{data.name}.out{o}", idx),)))
    problem = ir.Problem.concat(parts)
    info = {"granularity": "weight", "objective": data.kind, "weight_shape": list(data.layer_shape or (k, n)),
            "next": data.name,
            "grid": grid.to_json(), "scales": data.scales.tolist(), "target_scale": data.target_scale,
            "offset": problem.offset}
    if data.chosen is not None:
        info["chosen"] = data.chosen.tolist()
    return problem, info


# ------------------------------------------------------------------ codes <-> weights
def encode(data: LayerData, idx: np.ndarray) -> np.ndarray:
    """The 0/1 values of a layer's variables (in :func:`labels_of` order) for level indices idx (k x n)."""
    return data.grid.codes[idx].reshape(-1)


def decode(info: dict, name: str, values: dict[str, float], where: str) -> np.ndarray:
    """A layer's discrete weights (k x n; a conv layer's flattened, n = C*kh*kw) from variable values by label and
    the layer's compile record (``weight_shape``: the layer's full weight shape)."""
    grid = Grid.from_json(info.get("grid", {}), where)
    shape = [int(v) for v in info["weight_shape"]]
    k, n = shape[0], int(np.prod(shape[1:]))
    scales = np.asarray(info["scales"], dtype=np.float64)
    labels = labels_of(name, k, n, grid).tolist()
    try:
        x = np.array([values[lab] for lab in labels], dtype=np.float64)
    except KeyError as exc:
        raise ir.QselError(f"{where}: no value for variable {exc.args[0]!r} of layer {name!r}") from None
    X = x.reshape(k, n, grid.bits)
    if grid.encoding == "onehot":
        bad = np.argwhere(X.sum(axis=2) != 1)
        if bad.size:
            o, i = bad[0]
            raise ir.QselError(f"{where}: weight {name}.w{o}_{i} has {int(X[o, i].sum())} one-hot levels set "
                               f"(exactly one needed)")
    return (X @ grid.coeffs + grid.w0) * scales[:, None]


def is_discrete(compile_meta: dict) -> bool:
    """Whether a result's compile record describes a discrete-weight problem."""
    obj = compile_meta.get("objective") if isinstance(compile_meta, dict) else None
    return isinstance(obj, dict) and obj.get("kind") in KINDS


def weights_of(compile_meta: dict, assignment: dict[str, float], where: str) -> dict[str, np.ndarray]:
    """Every discretised layer's weights decoded from a result's assignment, in the layer's shape ((O, C, kh, kw)
    for a conv layer)."""
    return {name: decode(info, name, assignment, where).reshape([int(v) for v in info["weight_shape"]])
            for name, info in compile_meta["layers"].items()}


def with_weights(network: Network, weights: dict[str, np.ndarray]) -> Network:
    """A copy of ``network`` whose named layers carry ``weights`` (same shapes)."""
    layers = []
    for layer in network.layers:
        if layer.name in weights:
            W = np.asarray(weights[layer.name], dtype=np.float64).reshape(layer.weight.shape)
            layer = Layer(layer.name, layer.kind, W, layer.bias, layer.activation, layer.stride, layer.padding,
                          layer.flatten_input)
        layers.append(layer)
    return Network(layers, network.input_shape, network.task, dict(network.metadata))


# ------------------------------------------------------------------ compile and measure
def prepare(network: Network, X: np.ndarray, y: np.ndarray | None, kind: str, grid: Grid,
            layers: tuple[str, ...] | None, target_scale: float | None, *, schedule: str = "independent",
            solver=None) -> list[LayerData]:
    """The per-layer data in network order. ``sequential``: layer l's inputs come from the network whose
    earlier layers already carry the weights ``solver(data)`` (level indices, k x n) chose."""
    from .objective import calibration_pass

    if kind not in KINDS:
        raise ir.QselError(f"unknown discrete objective {kind!r} (expected one of: {', '.join(KINDS)})")
    if schedule == "sequential" and solver is None:
        raise ir.QselError("--schedule sequential needs a solver to choose each layer before the next")
    names = check_layers(network, kind, layers)
    m, dense, Y = calibration_pass(network, X, y, kind == "train")
    chosen: dict[str, np.ndarray] = {}
    out = []
    for name in names:
        seen = dense
        if schedule == "sequential" and chosen:
            seen = Trace()
            with_weights(network, chosen).forward(X, trace=seen)
        data = layer_data(network, name, kind, grid, seen, dense, Y, target_scale)
        if schedule == "sequential":
            data.chosen = np.asarray(solver(data), dtype=np.int64)
            chosen[name] = data.levels_of(data.chosen)
        out.append(data)
    return out


def compile_discrete(network: Network, data: list[LayerData], schedule: str, metadata: dict | None = None, *,
                     initial_state: dict | None = None) -> ir.Problem:
    """The IR of every layer's problem (block-diagonal union) with the compile record in metadata.

    ``initial_state`` (a baseline's code, :func:`discrete_baselines.initial_state`) is recorded as
    ``metadata["initial_state"]`` (labels set to 1) for the ``warm(SOLVER)`` composite."""
    parts, infos = [], {}
    for d in data:
        problem, info = layer_problem(d)
        parts.append(problem)
        infos[d.name] = info
    from qsel.ir.fingerprints import model_fingerprint

    meta = dict(metadata or {})
    meta["source"] = {**(meta.get("source") or {}), "fingerprint": model_fingerprint(network)}
    first = data[0]
    meta["objective"] = {
        "kind": first.kind, "granularity": "weight", "schedule": schedule, "weights": first.grid.spec,
        "encoding": first.grid.encoding, "target_scale": first.target_scale,
        "units": "mean over calibration samples of the squared error of the layer's pre-activation against "
                 "its target, summed over output units and layers",
    }
    meta["layers"] = infos
    if initial_state is not None:
        meta["initial_state"] = initial_state
    return ir.Problem.concat(parts, metadata=meta)


def measure(network: Network, X: np.ndarray, y: np.ndarray | None, weights: dict[str, np.ndarray],
            compile_meta: dict) -> dict[str, float]:
    """Per-layer objective of discrete ``weights``, by running the network with them on the batch X.

    Layer l's pre-activation Z_l (the network with layer l's weights replaced; with ``sequential`` every
    discretised layer up to l) against its target: the full-precision pre-activation (quantize) or
    c Y / Y (train):  objective_l = 1/m ||Z_l - T_l||^2. (With ``sequential`` this equals the IR energy when
    the earlier layers carry the weights chosen while compiling, ``layers[l]["chosen"]``, as for unit
    selection.)"""
    from .objective import dense_trace, targets

    schedule = compile_meta["objective"].get("schedule", "independent")
    infos = compile_meta["layers"]
    m = X.shape[0]
    dense = dense_trace(network, X)
    out: dict[str, float] = {}
    active: dict[str, np.ndarray] = {}
    for name in sorted(infos, key=network.index):
        info = infos[name]
        active = {**active, name: weights[name]} if schedule == "sequential" else {name: weights[name]}
        seen = Trace()
        with_weights(network, active).forward(X, trace=seen)
        Z = seen.pre[name]
        if info["objective"] == "quantize":
            T = dense.pre[name]
        else:
            Y = targets(y, network, m)
            T = info["target_scale"] * Y if network.task == "classification" else Y
        diff = (Z - T).reshape(-1)  # conv: every channel at every position
        out[name] = float(diff @ diff) / m
    return out
