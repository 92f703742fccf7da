"""Op-table rows: elementwise math, special functions, predicates, logical and bitwise ops."""

from optable import *  # noqa: F401,F403

OPS = [
]
