"""qsel.ir — the intermediate representation of neuron-selection problems.

A :class:`Problem` is a binary quadratic problem stored as arrays:
labelled variables with provenance, linear biases, dense upper-triangular
blocks and sparse COO couplings, an offset, first-class constraints,
partitions and metadata. It has a text form (``.qir``), a binary form
(``.qirz``) and a verifier. This package imports nothing else of qsel.
"""

from __future__ import annotations

from .clamp import clamp, restrict
from .constraints import Constraint, Partition, Sense
from .errors import FormatError, ParseError, QselError, VerificationError
from .io import atomic_write, format_of, load, save
from .problem import FORMAT_VERSION, Problem
from .stats import Stats, compute as compute_stats
from .terms import Couplings, DenseBlock
from .variables import Granularity, Variables
from .verifier import check, verify
from . import binary_format, text_parser, text_printer

dumps = text_printer.dumps
loads = text_parser.loads

__all__ = [
    "FORMAT_VERSION", "Constraint", "Couplings", "DenseBlock", "FormatError", "Granularity", "ParseError",
    "Partition", "Problem", "QselError", "Sense", "Stats", "Variables", "VerificationError", "atomic_write",
    "binary_format", "check", "clamp", "compute_stats", "dumps", "format_of", "load", "loads", "restrict", "save", "text_parser",
    "text_printer", "verify",
]
