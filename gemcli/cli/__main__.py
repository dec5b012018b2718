"""`python -m gemcli.cli`: the gem command."""

from gemcli.cli import main

main()
