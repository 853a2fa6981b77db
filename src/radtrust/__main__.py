"""``python -m radtrust`` is the ``radtrust`` command."""

from radtrust.cli import entry

entry()
