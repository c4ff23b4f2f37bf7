"""The ``qsel`` driver: a compiler-style command line over the IR, passes and targets.

Every user error (bad file, bad option, bad pipeline) prints one clear
message to stderr and exits with code 2; ``--debug`` shows the traceback.
Each family of commands lives in its own module under ``qsel/commands/``.
"""

from __future__ import annotations

import importlib

from qsel.cli_base import main

COMMAND_MODULES = (
    "qsel.commands.ir_tools",
    "qsel.commands.models",
    "qsel.commands.imports",
    "qsel.commands.frontend",
    "qsel.commands.targets",
    "qsel.commands.submit",
    "qsel.commands.select",
)
for _module in COMMAND_MODULES:
    importlib.import_module(_module)

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()
