"""Side-by-side benchmarks of ndgrad against PyTorch: ``python -m benchmarks --device cpu``."""
