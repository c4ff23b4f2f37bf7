"""Errors raised by the IR layer.

Every error a user can cause derives from :class:`QselError`; its message is
meant to be printed as is (the CLI prints it and exits with code 2).
"""

from __future__ import annotations


class QselError(Exception):
    """A problem with user input: a file, an option, a value. Printed without traceback."""


class FormatError(QselError):
    """A file is not in the format its name or content claims (bad magic, version, truncation)."""


class ParseError(QselError):
    """A syntax or reference error in a text file, located at ``file:line:column``."""

    def __init__(self, message: str, *, source: str = "<text>", line: int = 0, column: int = 0,
                 line_text: str | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.line_text = line_text
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}"
        text = f"{where}: {self.message}"
        if self.line_text is not None:
            caret = " " * max(self.column - 1, 0) + "^"
            text += f"\n    {self.line_text}\n    {caret}"
        return text


class VerificationError(QselError):
    """The IR breaks one of its invariants; ``problems`` lists every violation found."""

    def __init__(self, problems: list[str], *, context: str = "") -> None:
        self.problems = list(problems)
        head = f"{context}: " if context else ""
        lines = [f"{head}IR verification failed ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"  ... and {len(problems) - 20} more")
        super().__init__("\n".join(lines))
