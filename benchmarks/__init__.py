"""Side-by-side benchmarks of ndgrad against PyTorch: ``python -m benchmarks --device cpu``."""

import json
import os


def save_json(report, out, name):
    """Write ``report`` to ``out``/``name``.json atomically (a temporary file, then a rename: an interrupted
    run leaves the old results whole); returns the path without its extension, for the plot beside it."""
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, name)
    with open(stem + ".json.tmp", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(stem + ".json.tmp", stem + ".json")
    return stem


def pyplot():
    """matplotlib.pyplot drawing to files (the Agg backend), or None, said once, when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    return plt
