"""The ``radtrust`` command line: thin over the library.

Each command is a module in :mod:`radtrust.cli.commands` with ``NAME``, ``HELP``,
``configure(parser)`` and ``run(args) -> int``; adding a module adds the command.

Exit status: 0 all checks passed, 1 a check failed, 2 usage error or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from radtrust import __version__
from radtrust.errors import Error

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _commands() -> list[ModuleType]:
    from radtrust.cli import commands

    mods = [importlib.import_module(f"{commands.__name__}.{m.name}")
            for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    return sorted(mods, key=lambda m: m.NAME)


def _verbosity() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more detail; tracebacks for errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only problems")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _verbosity()
    parser = argparse.ArgumentParser(
        prog="radtrust",
        description="Protect medical images against tampering: sign, verify, scan, simulate.",
        epilog="Exit status: 0 all checks passed, 1 a check failed, 2 usage error or bad input.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"radtrust {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    args.verbose = getattr(args, "verbose", 0)
    args.quiet = getattr(args, "quiet", False)
    _configure_logging(args.verbose, args.quiet)
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


def entry() -> None:
    sys.exit(main())
