"""Padding modules: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad."""

__all__ = []
