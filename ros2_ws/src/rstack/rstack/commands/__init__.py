"""Subcommands of the rstack CLI, one module each."""
