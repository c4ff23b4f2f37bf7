"""What ``qsel inspect`` prints: a human summary or a JSON document of a problem."""

from __future__ import annotations

import json
from collections import Counter

from qsel import ir


def summary_dict(problem: ir.Problem) -> dict:
    s = ir.compute_stats(problem)
    v = problem.variables
    layers = Counter(v.layer_of(i) or "-" for i in range(problem.num_vars)) if problem.num_vars <= 200_000 else {}
    d = s.as_dict()
    d.update({
        "num_partitions": len(s.partitions),
        "layers": dict(layers),
        "fixed": problem.fixed,
        "history": problem.history,
        "metadata_keys": sorted(problem.metadata),
    })
    return d


def to_json(problem: ir.Problem) -> str:
    return json.dumps(summary_dict(problem), indent=2, sort_keys=True)


def to_text(problem: ir.Problem, source: str) -> str:
    d = summary_dict(problem)
    lines = [f"{source}",
             f"  variables        {d['num_vars']}  (layers: "
             + ", ".join(f"{k} {n}" for k, n in d["layers"].items()) + ")",
             f"  couplings        {d['num_couplings']}  (dense blocks {d['num_dense_blocks']}, "
             f"sparse entries {d['num_sparse']})",
             f"  density          {d['density']:.4g}",
             f"  linear h         [{d['h_min']:.6g}, {d['h_max']:.6g}]  ({d['num_linear']} non-zero)",
             f"  quadratic J      [{d['j_min']:.6g}, {d['j_max']:.6g}]",
             f"  |coefficients|   [{d['abs_min_nonzero']:.6g}, {d['abs_max']:.6g}]  "
             f"dynamic range {d['dynamic_range_bits']:.2f} bits",
             f"  offset           {d['offset']!r}"]
    lines.append(f"  constraints      {d['num_constraints']}")
    for c in d["constraints"]:
        pen = d["penalties"].get(c["label"])
        pen_text = f"  penalty {pen!r}" if pen is not None else ""
        lines.append(f"    {c['label']}: {c['kind']} over {c['size']} variables {c['sense']} {c['rhs']:g}{pen_text}")
    sizes = d["partitions"]
    if sizes:
        lines.append(f"  partitions       {len(sizes)}  sizes min {min(sizes)} / median "
                     f"{sorted(sizes)[len(sizes) // 2]} / max {max(sizes)}")
    else:
        lines.append("  partitions       0")
    if d["fixed"]:
        lines.append(f"  fixed variables  {len(d['fixed'])}")
    for label, value in sorted(d["penalties"].items()):
        if not any(c["label"] == label for c in d["constraints"]):
            lines.append(f"  penalty          {label} = {value!r}")
    if d["history"]:
        lines.append("  pass history     " + ", ".join(
            h["pass"] + ("" if h.get("exact", True) else f" (bound {h.get('bound', 0):.3g})") for h in d["history"]))
    return "\n".join(lines)
