"""Op-table rows: shape and indexing ops (split, roll, gather, scatter, index_*, masked_*, tril ...)."""

from optable import *  # noqa: F401,F403

OPS = [
]
