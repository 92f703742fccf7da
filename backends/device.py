"""Device: where a tensor's memory lives ("cpu", "cuda", "cuda:N")."""


class Device:
    """A device, named as in PyTorch. ``Device("cuda")`` means the first GPU, ``cuda:0``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"Device: expected a string such as 'cpu' or 'cuda:0', got {type(spec).__name__}")
        kind, _, number = spec.strip().lower().partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"Device: unknown device {spec!r}; use 'cpu', 'cuda' or 'cuda:N'")
        if number:
            if not number.isdigit() or index is not None:
                raise ValueError(f"Device: bad device string {spec!r}; use 'cuda:N' with N a GPU number")
            index = int(number)
        if kind == "cpu":
            if index not in (None, 0):
                raise ValueError(f"Device: the CPU has no index (got {spec!r})")
            index = None
        elif index is None:
            index = 0
        self.type, self.index = kind, index

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except ValueError:
                return False
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"
