"""The qsel subcommands, one module per family; ``qsel.cli`` imports them all."""
