"""Shared output for commands: text or JSON lines, and the tally of problems that sets the exit status."""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, TextIO

from radtrust.errors import Error


def add_format_option(parser: Any, choices: tuple[str, ...] = ("text", "jsonl")) -> None:
    parser.add_argument("--format", choices=choices, default="text", help="output format (default: text)")


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


@dataclass
class Reporter:
    """Writes records as text or JSON lines; counts bad inputs and failed checks."""

    fmt: str = "text"
    quiet: bool = False
    verbose: int = 0
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    bad_inputs: int = 0
    failures: int = 0

    def record(self, obj: dict[str, Any], text: str | None = None) -> None:
        """Emit one record: the JSON object in jsonl mode, else the text (unless quiet)."""
        if self.fmt == "jsonl":
            self.out.write(json.dumps(obj, default=_default, sort_keys=False) + "\n")
        elif text is not None and not self.quiet:
            self.out.write(text.rstrip("\n") + "\n")

    def error(self, exc: Error, path: str | None = None) -> None:
        """A bad input: one line on stderr (and a jsonl error record), counted for exit 2."""
        self.bad_inputs += 1
        where = path or exc.path
        if self.fmt == "jsonl":
            self.out.write(json.dumps({"kind": "error", "path": where, "message": exc.message}) + "\n")
        self.out.flush()
        if self.verbose and exc.__traceback__ is not None:
            traceback.print_exception(exc, file=self.err)
        print(f"radtrust: error: {exc}", file=self.err, flush=True)

    def fail(self) -> None:
        self.failures += 1

    def exit_code(self) -> int:
        if self.bad_inputs:
            return 2
        return 1 if self.failures else 0
