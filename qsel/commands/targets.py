"""qsel emit / solve / compose commands (being written)."""
