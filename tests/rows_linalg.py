"""Op-table rows: linear algebra: mm/bmm/einsum/... and autograd.linalg."""

from optable import *  # noqa: F401,F403

OPS = [
]
