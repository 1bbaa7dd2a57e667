"""The command line: parse options, call the core, print. The only package that imports click.

One module per command group; importing them registers their commands on `main`.
"""

from kb.cli import articles, learning, notes, query
from kb.cli.common import main
from kb.cli.query import GRAPH_FORMATS

__all__ = ["GRAPH_FORMATS", "articles", "learning", "main", "notes", "query"]
