"""The ``vidsleuth`` command line: one module per subcommand family, wired in :mod:`.main`."""
