"""qsel frontend commands (being written)."""
