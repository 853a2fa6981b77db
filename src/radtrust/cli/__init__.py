"""The ``radtrust`` command line: thin over the library.

Each command is a module in :mod:`radtrust.cli.commands` with ``NAME``, ``HELP`` (string literals),
``configure(parser)`` and ``run(args) -> int``; adding a module adds the command. Only the command
being run is imported: names and help lines are read from the modules' source, so ``radtrust --help``
and every command start without importing the others' dependencies.

Exit status: 0 all checks passed, 1 a check failed, 2 usage error or bad input.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from radtrust import __version__, allocator
from radtrust.errors import Error

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    module: str


def _literal(tree: ast.Module, name: str, path: Path) -> str:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise RuntimeError(f"{path}: a command module needs {name} as a string literal")


def _commands() -> list[_Command]:
    """Commands found in radtrust.cli.commands, read without importing them."""
    from radtrust.cli import commands

    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        path = Path(commands.__path__[0]) / f"{info.name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.append(_Command(_literal(tree, "NAME", path), _literal(tree, "HELP", path),
                              f"{commands.__name__}.{info.name}"))
    return sorted(found, key=lambda c: c.name)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error (``radtrust: error: scan: ... (see radtrust scan --help)``)."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(EXIT_BAD_INPUT, f"radtrust: error: {where}{' '.join(message.split())} (see {self.prog} --help)\n")


def _verbosity() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more detail; tracebacks for errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only problems")
    return common


def _selected(argv: Sequence[str] | None, names: set[str]) -> str | None:
    """The command named on the command line (the first argument that is a command name)."""
    for arg in sys.argv[1:] if argv is None else argv:
        if arg in names:
            return arg
    return None


def build_parser(argv: Sequence[str] | None = (), *, load_all: bool = False) -> argparse.ArgumentParser:
    """The parser. Only the command named in ``argv`` is imported and configured, unless ``load_all``."""
    common = _verbosity()
    parser = _Parser(
        prog="radtrust",
        description="Protect medical images against tampering: sign, verify, scan, simulate.",
        epilog="Exit status: 0 all checks passed, 1 a check failed, 2 usage error or bad input.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"radtrust {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    found = _commands()
    selected = _selected(argv, {c.name for c in found})
    for cmd in found:
        if not (load_all or cmd.name == selected):
            sub.add_parser(cmd.name, help=cmd.help, add_help=False)
            continue
        mod = importlib.import_module(cmd.module)
        p = sub.add_parser(cmd.name, help=cmd.help, description=getattr(mod, "DESCRIPTION", cmd.help),
                           parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("radtrust: %(message)s"))
    root = logging.getLogger("radtrust")
    root.handlers[:] = [h for h in root.handlers if isinstance(h, logging.NullHandler)] + [handler]
    root.setLevel(level)
    # Libraries warn about what they read (pydicom: "Invalid value for VR UI" with its source line), which would
    # break the one-line error and clutter a clean run: such warnings are shown with -v only, as log lines.
    logging.captureWarnings(True)
    library = logging.getLogger("py.warnings")
    library.handlers[:] = [handler] if verbose else [logging.NullHandler()]
    library.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    args.verbose = getattr(args, "verbose", 0)
    args.quiet = getattr(args, "quiet", False)
    _configure_logging(args.verbose, args.quiet)
    allocator.tune()  # this process is ours: keep one image's freed arrays for the next (radtrust.allocator)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args._run(args))
    except Error as exc:
        if args.verbose:
            logging.getLogger("radtrust").exception("error")
        print(f"radtrust: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("radtrust: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a place that cannot be read or written (a file where a folder is needed, no permission)
        if args.verbose:
            logging.getLogger("radtrust").exception("error")
        where = f"{exc.filename}: " if exc.filename else ""
        why = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            why = "a file is in the way where a folder is needed"
        print(f"radtrust: error: {where}{why}", file=sys.stderr)
        return EXIT_BAD_INPUT


def entry() -> None:
    sys.exit(main())
