"""User-facing errors: one line, naming the file (and line) at fault."""
from __future__ import annotations


class VLKGEError(Exception):
    """An error caused by user input or environment; the CLI prints it as one line."""


class DataError(VLKGEError):
    """A fatal problem in an input file, located as FILE[:LINE]."""

    def __init__(self, file: object, message: str, line: int | None = None):
        self.file = str(file)
        self.line = line
        self.message = message
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: {message}")
