"""One module per ``radtrust`` command (NAME, HELP, configure(parser), run(args) -> int)."""
