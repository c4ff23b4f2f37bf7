"""Runs inside the OpenQAOA environment (Python 3.10, openqaoa-core 0.2.6): ``python openqaoa_runner.py IN OUT``.

It imports nothing of qsel (it cannot: qsel needs Python 3.11 and numpy 2);
qsel talks to it only through two JSON files.

Input::

    {"task": "solve" | "evaluate",
     "qubo": {...OpenQAOA's QUBO.asdict() layout: terms, weights, constant, n, problem_instance, metadata...},
     "options": {"p": 1, "device": "vectorized", "optimizer": "cobyla", "maxiter": 100,
                 "init_type": "ramp", "mixer": "x", "num_reads": 100, "n_shots": 0, "seed": 0},
     "bitstrings": ["0101", ...]}          # task "evaluate": energies of these, from OpenQAOA's own Hamiltonian
    (task "evaluate" also takes "items": [{"qubo": ..., "bitstrings": [...]}, ...] and answers "items")

Output::

    {"ok": true, "openqaoa": "0.2.6", "python": "3.10.13",
     "energies": [...],                                             # evaluate
     "samples": [{"bitstring": "0101", "count": 37, "energy": -1.5}, ...],   # solve
     "probabilities": {"0101": 0.4, ...},                           # solve, statevector devices
     "most_probable_states": {...}, "optimized": {"angles": [...], "cost": ...}, "seconds": 1.2}

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


def solve(qubo, options):
    from openqaoa import QAOA
    from openqaoa.backends import create_device
    from openqaoa.utilities import bitstring_energy

    t0 = time.perf_counter()
    q = QAOA()
    q.set_device(create_device(location="local", name=options.get("device", "vectorized")))
    q.set_circuit_properties(p=int(options.get("p", 1)), param_type="standard",
                             init_type=options.get("init_type", "ramp"),
                             mixer_hamiltonian=options.get("mixer", "x"))
    n_shots = int(options.get("n_shots", 0) or 0)
    backend_props = {}
    if n_shots:
        backend_props["n_shots"] = n_shots
        if options.get("seed") is not None:
            backend_props["seed_simulator"] = int(options["seed"])
    if backend_props:
        q.set_backend_properties(**backend_props)
    q.set_classical_optimizer(method=options.get("optimizer", "cobyla"), maxiter=int(options.get("maxiter", 100)))
    q.compile(qubo)
    q.optimize()
    result = q.result
    outcomes = result.optimized["measurement_outcomes"]
    counts, probs = _counts_from_outcomes(outcomes, options.get("num_reads", 100), options.get("seed"))
    ham = qubo.hamiltonian
    samples = [{"bitstring": b, "count": c, "energy": float(bitstring_energy(ham, b))}
               for b, c in sorted(counts.items())]
    mps = result.most_probable_states
    return {"samples": samples, "probabilities": probs,
            "most_probable_states": {"solutions_bitstrings": list(mps.get("solutions_bitstrings", [])),
                                     "bitstring_energy": float(mps.get("bitstring_energy", 0.0))} if mps else {},
            "optimized": {"angles": [float(a) for a in result.optimized["angles"]],
                          "cost": float(result.optimized["cost"])},
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
