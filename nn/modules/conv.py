"""Convolution modules: Conv1d/2d/3d, ConvTranspose1d/2d/3d, Unfold, Fold."""


import autograd as ag
from autograd.ops._args import ntuple

from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Unfold", "Fold"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What convolutions and transposed convolutions share: arguments, weight, bias, init, repr."""

    n = None            # spatial dims
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, output_padding=0):
        super().__init__()
        name, n = type(self).__name__, self.n
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels must be divisible by groups (in_channels={in_channels}, "
                             f"groups={groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels must be divisible by groups (out_channels={out_channels}, "
                             f"groups={groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, but got "
                             f"padding_mode={padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(name, "kernel_size", kernel_size, n)
        self.stride = ntuple(name, "stride", stride, n)
        self.dilation = ntuple(name, "dilation", dilation, n)
        self.output_padding = ntuple(name, "output_padding", output_padding, n)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if self.transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple of ints, got {padding!r}")
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of 'valid', 'same'")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride})")
            self.padding = padding
        else:
            self.padding = ntuple(name, "padding", padding, n)
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(ag.empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(ag.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init._reset_fan_in(self.weight, self.bias)

    def _pads(self):
        """(low, high) padding per spatial dim, "same" and "valid" worked out."""
        if self.padding == "valid":
            return ((0, 0),) * self.n
        if self.padding == "same":
            return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for k, d in zip(self.kernel_size, self.dilation))
        return tuple((p, p) for p in self.padding)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    conv = None  # the functional form

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)

    def _conv_forward(self, input, weight, bias):
        conv = type(self).conv
        if self.padding_mode != "zeros":
            return conv(pad_by_mode(input, self._pads(), self.padding_mode), weight, bias, self.stride, 0,
                        self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-d convolution over (N, C_in, L): weight (out_channels, in_channels / groups, kernel_size)."""
    n, conv = 1, staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-d convolution over (N, C_in, H, W): weight (out_channels, in_channels / groups, kH, kW)."""
    n, conv = 2, staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-d convolution over (N, C_in, D, H, W): weight (out_channels, in_channels / groups, kD, kH, kW)."""
    n, conv = 3, staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    transposed = True
    conv = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}, got '
                             f'{padding_mode!r}; pad the input yourself and use padding=0')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding)

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return type(self).conv(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                               self.groups, self.dilation)

    def _output_padding(self, input, output_size):
        """The output_padding that gives ``output_size`` (PyTorch's rule); the module's own without one."""
        if output_size is None:
            return self.output_padding
        n, name = self.n, type(self).__name__
        leading = 2 if input.ndim == n + 2 else 1
        output_size = list(output_size)
        if len(output_size) == n + leading:
            output_size = output_size[leading:]
        if len(output_size) != n:
            raise ValueError(f"{name}: output_size must have {n} or {n + leading} elements (got {len(output_size)})")
        padding = []
        for d in range(n):
            smallest = ((input.shape[leading + d] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            largest = smallest + self.stride[d] - 1
            if not smallest <= output_size[d] <= largest:
                raise ValueError(f"{name}: requested an output size of {output_size}, but valid sizes range from "
                                 f"{smallest} to {largest} (for an input of {list(input.shape[leading:])})")
            padding.append(output_size[d] - smallest)
        return tuple(padding)


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-d convolution: weight (in_channels, out_channels / groups, kernel_size)."""
    n, conv = 1, staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-d convolution: weight (in_channels, out_channels / groups, kH, kW)."""
    n, conv = 2, staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-d convolution: weight (in_channels, out_channels / groups, kD, kH, kW)."""
    n, conv = 3, staticmethod(F.conv_transpose3d)


class Unfold(Module):
    """Sliding local blocks of (N, C, H, W) as columns (N, C * prod(kernel_size), L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Columns (N, C * prod(kernel_size), L) summed back into (N, C, *output_size)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


def pad_by_mode(input, pads, mode):
    """``input`` padded by (low, high) ``pads`` on its trailing dims, reading the border from the input
    itself: "reflect" mirrors without repeating the edge, "replicate" repeats it, "circular" wraps
    around. Each dim is one gather (getitem with indices), so gradients flow back to the input."""
    n = len(pads)
    for d, (lo, hi) in enumerate(pads):
        axis = input.ndim - n + d
        size = input.shape[axis]
        if mode == "reflect" and max(lo, hi) >= size:
            raise RuntimeError(f"padding_mode='reflect': padding ({lo}, {hi}) should be smaller than the input "
                               f"size {size} of dim {axis} (input shape {tuple(input.shape)})")
        if mode == "circular" and max(lo, hi) > size:
            raise RuntimeError(f"padding_mode='circular': padding ({lo}, {hi}) can be at most the input size "
                               f"{size} of dim {axis} (input shape {tuple(input.shape)})")
        if mode == "replicate" and size == 0 and lo + hi:
            raise RuntimeError(f"padding_mode='replicate': cannot pad the empty dim {axis} of input shape "
                               f"{tuple(input.shape)}")
        index = []
        for p in range(-lo, size + hi):
            if mode == "reflect":
                p = -p if p < 0 else 2 * (size - 1) - p if p >= size else p
            elif mode == "replicate":
                p = min(max(p, 0), size - 1)
            else:
                p %= size
            index.append(p)
        if lo or hi:
            input = input[(slice(None),) * axis + (ag.tensor(index, device=input.device),)]
    return input
