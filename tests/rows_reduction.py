"""Op-table rows: reductions, scans, sorting and selection (prod, var, cumsum, sort, topk, unique ...)."""

from optable import *  # noqa: F401,F403

OPS = [
]
