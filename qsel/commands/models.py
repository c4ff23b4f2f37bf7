"""qsel models commands (being written)."""
