"""gemcli: Generalized Embedding Machines (GEM) as a command-line experiment toolkit."""

__version__ = "0.4.5"
