"""Runs inside the OpenQAOA environment (Python 3.10, openqaoa-core 0.2.6): ``python openqaoa_runner.py IN OUT``.

It imports nothing of qsel (it cannot: qsel needs Python 3.11 and numpy 2);
qsel talks to it only through two JSON files.

Input::

    {"task": "solve" | "evaluate",
     "qubo": {...OpenQAOA's QUBO.asdict() layout: terms, weights, constant, n, problem_instance, metadata...},
     "options": {"p": 3, "device": "vectorized", "optimizer": "bfgs", "maxiter": 100, "grid": 8, "starts": 1,
                 "restarts": 1, "cvar": 1.0, "mixer": "x" | "xy", "hamming_weight": K, "pairs": [[0, 1], ...],
                 "num_reads": 100, "n_shots": 0, "seed": 0},
     "bitstrings": ["0101", ...]}          # task "evaluate": energies of these, from OpenQAOA's own Hamiltonian
    (task "evaluate" also takes "items": [{"qubo": ..., "bitstrings": [...]}, ...] and answers "items")

``mixer`` "xy": OpenQAOA's XY mixer over ``pairs`` (its ``mixer_qubit_connectivity``), started from the
Dicke state |D^n_K> given as ``prepend_state`` with ``init_hadamard=False``: every state it reaches has
Hamming weight K. The circuit runs on the cost divided by s = sqrt(sum weights^2); energies, CVaR and
samples use the QUBO as given.

Output::

    {"ok": true, "openqaoa": "0.2.6", "python": "3.10.13",
     "energies": [...],                                             # evaluate
     "samples": [{"bitstring": "0101", "count": 37, "energy": -1.5}, ...],   # solve
     "probabilities": {"0101": 0.4, ...},                           # solve, statevector devices
     "optimized": {"angles": [betas..., gammas...], "betas": [...], "gammas": [...], "cost": ...,
                   "cost_scale": s, "evaluations": ...}, "seconds": 1.2}

Bitstrings are OpenQAOA's: character k is qubit k (spin z_k = (-1)^bit). On failure
it writes {"ok": false, "error": "..."} and exits with status 1.
"""

import json
import os
import sys
import time
import traceback

# This file sits next to qsel's own targets/openqaoa.py: drop the script's folder from the path so that
# ``import openqaoa`` finds the OpenQAOA package, not that module (qsel also runs it with ``python -I``).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _counts_from_outcomes(outcomes, num_reads, seed):
    """(counts, probabilities or None): sample ``num_reads`` bitstrings from a statevector, or take shot counts."""
    import numpy as np
    from openqaoa.utilities import qaoa_probabilities

    if isinstance(outcomes, dict):
        counts = {str(k): int(v) for k, v in outcomes.items()}
        return counts, None
    probs = qaoa_probabilities(np.asarray(outcomes))
    keys = sorted(probs)
    p = np.array([max(float(probs[k]), 0.0) for k in keys])
    p = p / p.sum()
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(num_reads), p)
    counts = {k: int(c) for k, c in zip(keys, draws) if c}
    return counts, {k: float(v) for k, v in zip(keys, p) if v > 1e-12}


def _dicke(n, k):
    """|D^n_k> as a statevector: amplitude C(n, k)^(-1/2) on every basis state of Hamming weight k."""
    import numpy as np

    index = np.arange(1 << n)
    weight = np.zeros(1 << n, dtype=np.int64)
    for i in range(n):
        weight += (index >> i) & 1
    psi = (weight == k).astype(complex)
    return psi / np.linalg.norm(psi)


def _diagonal(qubo, n):
    """C(z) of every basis index x (bit k of x = qubit k, as qaoa_probabilities keys it; z_k = 1 - 2 bit_k):
    constant + sum_t weights[t] prod_{k in terms[t]} z_k, vectorised over the 2^n states."""
    import numpy as np

    index = np.arange(1 << n)
    z = 1.0 - 2.0 * ((index[:, None] >> np.arange(n)) & 1)
    out = np.full(1 << n, float(qubo.constant))
    for term, w in zip(qubo.terms, qubo.weights):
        out += float(w) * np.prod(z[:, list(term)], axis=1)
    return out


def _angle_schedule():
    """qsel's ``targets/angle_schedule.py`` (numpy and scipy only), loaded by its path: the one definition of
    the CVaR objective, INTERP and the angle search that qsel's own QAOA solver uses too."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("qsel_angle_schedule", os.path.join(_HERE, "angle_schedule.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _workflow(circuit_qubo, options, depth, raw=None):
    """A compiled OpenQAOA QAOA workflow of depth ``depth`` (standard parameters, custom angles)."""
    import numpy as np
    from openqaoa import QAOA
    from openqaoa.backends import create_device

    q = QAOA()
    q.set_device(create_device(location="local", name=options.get("device", "vectorized")))
    mixer = options.get("mixer", "x")
    raw = np.zeros(2 * depth) if raw is None else np.asarray(raw, dtype=float)
    props = {"p": depth, "param_type": "standard", "init_type": "custom", "mixer_hamiltonian": mixer,
             "variational_params_dict": {"betas": raw[:depth].tolist(), "gammas": raw[depth:].tolist()}}
    if mixer == "xy":
        props["mixer_qubit_connectivity"] = [list(pair) for pair in options["pairs"]]
    q.set_circuit_properties(**props)
    backend_props = {}
    if mixer == "xy":  # start in the Dicke state of the block's budget instead of |+>^n
        backend_props.update(prepend_state=_dicke(int(circuit_qubo.n), int(options["hamming_weight"])),
                             init_hadamard=False)
    n_shots = int(options.get("n_shots", 0) or 0)
    if n_shots:
        backend_props["n_shots"] = n_shots
        backend_props["cvar_alpha"] = float(options.get("cvar", 1.0))
        if options.get("seed") is not None:
            backend_props["seed_simulator"] = int(options["seed"])
    if backend_props:
        q.set_backend_properties(**backend_props)
    # OpenQAOA's own optimiser runs only on shot-based devices (statevector devices follow _schedule)
    q.set_classical_optimizer(method=options.get("optimizer", "cobyla") if n_shots else "cobyla",
                              maxiter=int(options.get("maxiter", 100)))
    q.compile(circuit_qubo)
    return q


def _schedule(circuit_qubo, energies, options):
    """Angles for a statevector device: a grid x grid scan of (gamma, beta) at depth 1, the ``starts`` best
    points refined by scipy (``optimizer``), each carried up to depth p by INTERP and refined again; the
    objective is CVaR_alpha of the IR energies under OpenQAOA's wavefunction. Returns (workflow, raw angles
    [betas, gammas], objective value, evaluations)."""
    import numpy as np

    schedule = _angle_schedule()
    p = int(options.get("p", 1))
    alpha = float(options.get("cvar", 1.0))
    method, opts = schedule.scipy_options(options.get("optimizer", "bfgs"), options.get("maxiter", 100))
    order = np.argsort(energies, kind="stable")
    count = [0]
    rng = np.random.default_rng(options.get("seed"))
    half = np.pi / 2 if options.get("mixer", "x") == "x" else np.pi

    def objective_at(depth):
        q = _workflow(circuit_qubo, options, depth)
        backend, params = q.backend, q.variate_params

        def objective(v):  # v = [gammas, betas]; OpenQAOA's raw order is [betas, gammas]
            params.update_from_raw(np.concatenate([v[depth:], v[:depth]]))
            probs = np.abs(np.asarray(backend.wavefunction(params))) ** 2
            count[0] += 1
            return schedule.cvar_value(probs, energies, alpha, order)

        return objective, q

    value, v, q = schedule.search(objective_at, p, grid=int(options.get("grid", 8)), half_period=half,
                                  starts=int(options.get("starts", 1)), restarts=int(options.get("restarts", 1)),
                                  method=method, options=opts, rng=rng)
    return q, np.concatenate([v[p:], v[:p]]), value, count[0]


def solve(qubo, options):
    """Statevector devices: qsel's angle schedule (_schedule) on OpenQAOA's own circuit and simulator, then
    ``num_reads`` seeded draws from the final wavefunction. Shot-based devices (n_shots > 0): OpenQAOA's own
    optimiser (``cvar_alpha`` on the shot counts) from a linear ramp; the samples are its last shots."""
    import numpy as np
    from openqaoa.problems import QUBO
    from openqaoa.utilities import bitstring_energy

    t0 = time.perf_counter()
    n = int(qubo.n)
    # the circuit sees the cost divided by its spread s = sqrt(sum w^2) (one angle range for every block)
    scale = float(np.sqrt(np.sum(np.square(np.asarray(qubo.weights, dtype=float))))) or 1.0
    terms, weights = [list(t) for t in qubo.terms], [float(w) / scale for w in qubo.weights]
    # OpenQAOA sizes the circuit from the qubits its terms touch: give an untouched qubit a zero term
    touched = {int(k) for t in terms for k in t}
    for k in range(n):
        if k not in touched:
            terms.append([k])
            weights.append(0.0)
    circuit_qubo = QUBO(n=n, terms=terms, weights=weights)
    energies = _diagonal(qubo, n)
    n_shots = int(options.get("n_shots", 0) or 0)
    if n_shots:
        p = int(options.get("p", 1))
        q = _workflow(circuit_qubo, options, p)
        frac = (np.arange(p) + 0.5) / p  # linear ramp over a total time 0.7 p (OpenQAOA's 'ramp')
        q.variate_params.update_from_raw(np.concatenate([(1.0 - frac) * 0.7, frac * 0.7]))
        q.optimize()
        outcomes = q.result.optimized["measurement_outcomes"]
        raw = np.asarray(q.result.optimized["angles"], dtype=float)
        value, evaluations = float(q.result.optimized["cost"]), None
    else:
        q, raw, value, evaluations = _schedule(circuit_qubo, energies, options)
        q.variate_params.update_from_raw(raw)
        outcomes = np.asarray(q.backend.wavefunction(q.variate_params))
    counts, probs = _counts_from_outcomes(outcomes, options.get("num_reads", 100), options.get("seed"))
    ham = qubo.hamiltonian
    samples = [{"bitstring": b, "count": c, "energy": float(bitstring_energy(ham, b))}
               for b, c in sorted(counts.items())]
    p = len(raw) // 2
    return {"samples": samples, "probabilities": probs,
            "optimized": {"angles": raw.tolist(), "betas": raw[:p].tolist(), "gammas": raw[p:].tolist(),
                          "cost": value, "cost_scale": scale, "evaluations": evaluations},
            "seconds": time.perf_counter() - t0}


def evaluate(qubo, bitstrings):
    from openqaoa.utilities import bitstring_energy

    ham = qubo.hamiltonian
    return {"energies": [float(bitstring_energy(ham, b)) for b in bitstrings]}


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: openqaoa_runner.py IN.json OUT.json\n")
        return 2
    src, dst = argv[1], argv[2]
    try:
        with open(src, encoding="utf-8") as fh:
            payload = json.load(fh)
        from importlib.metadata import version

        from openqaoa.problems import QUBO

        out = {"ok": True, "openqaoa": version("openqaoa-core"), "python": "%d.%d.%d" % sys.version_info[:3]}
        task = payload.get("task", "solve")
        if task == "evaluate" and "items" in payload:
            out["items"] = [evaluate(QUBO.from_dict(item["qubo"]), item["bitstrings"]) for item in payload["items"]]
        elif task == "evaluate":
            out.update(evaluate(QUBO.from_dict(payload["qubo"]), payload["bitstrings"]))
        elif task == "solve":
            qubo = QUBO.from_dict(payload["qubo"])
            out["n"] = int(qubo.n)
            out.update(solve(qubo, payload.get("options", {})))
        else:
            raise ValueError("unknown task %r" % task)
        status = 0
    except Exception as exc:  # reported to qsel through the output file and stderr
        traceback.print_exc()
        out = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
        status = 1
    with open(dst + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    os.replace(dst + ".tmp", dst)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
