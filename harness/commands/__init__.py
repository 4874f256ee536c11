"""Command-line subcommands; see harness/cli.py for the contract each module follows."""
