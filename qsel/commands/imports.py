"""qsel imports commands (being written)."""
