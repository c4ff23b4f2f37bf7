"""qsel submit command (being written)."""
