"""Side-by-side benchmarks of ndgrad against PyTorch: ``python -m benchmarks --device cpu``."""


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
