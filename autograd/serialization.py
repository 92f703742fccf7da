"""``autograd.save`` and ``autograd.load`` (PyTorch's names), in a format that loads without running code.

A checkpoint is a zip archive with its entries stored uncompressed:

    manifest.json   {"format": "ndgrad-checkpoint", "version": 1, "root": TREE,
                     "tensors": [{"dtype", "shape", "device", "requires_grad"} or {"dtype", "shape", "numpy"}],
                     "pickled": [type names]}
    tensors/<i>     tensor i's elements: raw little-endian bytes in C order
    objects.pkl     present only when the saved object held things TREE can't describe (a Module, a class...)

TREE is JSON: None, bools, ints, floats and strings stand for themselves; everything else is an object
with one key naming its type: {"list": [...]}, {"tuple": [...]}, {"dict": [[key, value], ...]},
{"odict": ...} (an OrderedDict), {"tensor": i}, {"complex": [re, im]}, {"device": "cuda:0"},
{"dtype": "float32"}, {"pickled": i}. Keys are encoded like values, so optimizer state dicts keep
their int keys and tuples stay tuples.

Loading with ``weights_only=True`` (the default) reads the manifest and the raw bytes only: nothing in
the file is unpickled. Tensors come back as plain leaf Tensors with their dtype, shape, device and
requires_grad (so an nn.Parameter returns as a Tensor that requires grad: autograd does not import nn);
NumPy arrays and scalars come back as NumPy. The same Tensor object saved twice loads as one object;
distinct tensors that share memory (views, tied weights in a state_dict) are written and loaded separately.
"""

import io
import json
import math
import os
import pickle
import secrets
import sys
import zipfile
from collections import OrderedDict

import numpy as np

from backends import Device, get_backend

from . import dtypes
from .tensor import Tensor, tensor

FORMAT, VERSION = "ndgrad-checkpoint", 1
MANIFEST, OBJECTS = "manifest.json", "objects.pkl"
_DTYPES = {name: np.dtype(name) for name in ("bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32",
                                             "uint64", "float16", "float32", "float64", "complex64", "complex128")}
if dtypes.bfloat16 is not None:
    _DTYPES["bfloat16"] = dtypes.bfloat16


class SerializationError(RuntimeError):
    """A file that autograd.load (or a load_* helper) can't read: empty, truncated, damaged or foreign."""


class WeightsOnlyError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects, and weights_only=True refuses to unpickle them."""


# --- saving ---------------------------------------------------------------------------------------

class _Encoder:
    """Turns an object into TREE, collecting the tensors and the objects only pickle can hold."""

    def __init__(self):
        self.arrays, self.records, self.pickled = [], [], []
        self._index, self._open = {}, set()

    def encode(self, obj):
        kind = type(obj)
        if obj is None or kind in (bool, int, float, str):  # exact types: an IntEnum or np.float64 is not JSON
            return obj
        if isinstance(obj, (Tensor, np.ndarray, np.generic)) and obj.dtype.name in _DTYPES:
            return {"tensor": self._tensor(obj)}
        if kind is complex:
            return {"complex": [obj.real, obj.imag]}
        if kind is Device:
            return {"device": str(obj)}
        if isinstance(obj, np.dtype) and obj.name in _DTYPES:
            return {"dtype": obj.name}
        if kind in (list, tuple, dict, OrderedDict):
            if id(obj) in self._open:
                raise ValueError(f"save: a {kind.__name__} contains itself; the format stores trees, so break the "
                                 f"reference cycle before saving")
            self._open.add(id(obj))
            if kind in (list, tuple):
                node = {kind.__name__: [self.encode(x) for x in obj]}
            else:
                node = {"dict" if kind is dict else "odict": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
            self._open.discard(id(obj))
            return node
        self.pickled.append(obj)
        return {"pickled": len(self.pickled) - 1}

    def _tensor(self, obj):
        if id(obj) not in self._index:  # self.arrays keeps obj alive, so its id stays unique
            record = {"dtype": obj.dtype.name, "shape": list(obj.shape)}
            if isinstance(obj, Tensor):
                record.update(device=str(obj.device), requires_grad=obj.requires_grad)
            else:
                record["numpy"] = "scalar" if isinstance(obj, np.generic) else "array"
            self._index[id(obj)] = len(self.records)
            self.records.append(record)
            self.arrays.append(obj)
        return self._index[id(obj)]


def _host_array(obj):
    """A C-ordered NumPy copy (or the array itself when already one) of a Tensor or NumPy value."""
    if isinstance(obj, Tensor):
        obj = obj._backend.to_numpy(obj.array)
    return np.asarray(obj, order="C")  # not ascontiguousarray: it turns a 0-d array into shape (1,)


def _write_checkpoint(out, obj, pickle_protocol):
    encoder = _Encoder()
    root = encoder.encode(obj)
    manifest = {"format": FORMAT, "version": VERSION, "root": root, "tensors": encoder.records,
                "pickled": [f"{type(o).__module__}.{type(o).__qualname__}" for o in encoder.pickled]}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i, obj in enumerate(encoder.arrays):
            array = _host_array(obj)  # one tensor on the host at a time
            if sys.byteorder == "big":
                array = array.byteswap()
            with archive.open(f"tensors/{i}", "w", force_zip64=array.nbytes >= 1 << 31) as entry:
                entry.write(array.reshape(-1).view(np.uint8))
        if encoder.pickled:
            with archive.open(OBJECTS, "w", force_zip64=True) as entry:
                pickle.dump(encoder.pickled, entry, protocol=pickle_protocol)
        archive.writestr(MANIFEST, json.dumps(manifest))


def _atomic_write(path, write):
    """Call ``write(file)`` on a new file beside ``path``, then rename it onto ``path`` once it is complete
    and on disk: a crash or kill at any moment leaves the old file or the new one, never half of one."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:  # O_EXCL: never write into someone else's file; mode 0o666 lets the umask decide, as open() does
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise type(e)(e.errno, f"save: can't create a file in {directory} to write {path} ({e.strerror}); "
                               f"check that the directory exists and is writable") from None
    try:
        with open(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable; directories can't be opened on Windows, where this is skipped
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save(obj, f, pickle_protocol=pickle.DEFAULT_PROTOCOL):
    """Save ``obj`` to ``f`` (a path or a binary file object); a path is replaced atomically.

    Tensors, NumPy arrays and scalars, None, bools, ints, floats, complex numbers, strings, Devices,
    dtypes and lists, tuples, dicts and OrderedDicts of them are stored in the code-free format; anything
    else (a whole Module, a custom class) is pickled and then needs ``load(..., weights_only=False)``.
    """
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(f, lambda out: _write_checkpoint(out, obj, pickle_protocol))
    else:
        _write_checkpoint(f, obj, pickle_protocol)


# --- loading --------------------------------------------------------------------------------------

def _damaged(name, detail):
    return SerializationError(f"load: {name} is damaged or not an ndgrad checkpoint: {detail}; re-save it "
                              f"with autograd.save, or restore it from a backup")


def _why_not_a_zip(fileobj, name, error):
    fileobj.seek(0)
    head = fileobj.read(16)
    if not head:
        what = "is empty (0 bytes; an interrupted copy or save?)"
    elif head.startswith(b"PK"):
        what = f"is a truncated or damaged zip archive ({error})"
    else:
        what = f"is not an ndgrad checkpoint: it is not a zip archive (it starts with {head!r})"
    return SerializationError(f"load: {name} {what}; autograd.load reads files written by autograd.save")


def _not_ours(names, name):
    if any(n.endswith("data.pkl") for n in names):
        hint = "it looks like a PyTorch checkpoint: load it with torch.load, convert the tensors to NumPy and " \
               "save them with save_npz or save_safetensors"
    elif names and all(n.endswith(".npy") for n in names):
        hint = "it looks like a NumPy .npz archive: read it with autograd.serialization.load_npz"
    else:
        hint = "autograd.load reads files written by autograd.save"
    return SerializationError(f"load: {name} is a zip archive but not an ndgrad checkpoint (no {MANIFEST}); {hint}")


def _read_array(archive, i, record, name):
    """Tensor ``i``'s elements as a new writable NumPy array, checked against its record."""
    entry = f"tensors/{i}"
    if record["dtype"] not in _DTYPES:
        if record["dtype"] == "bfloat16":
            raise SerializationError(f"load: {name} holds bfloat16 tensors, which need the ml_dtypes package; "
                                     f"pip install ml_dtypes")
        raise _damaged(name, f"{entry} has an unknown dtype {record['dtype']!r}")
    dtype, shape = _DTYPES[record["dtype"]], tuple(int(n) for n in record["shape"])
    nbytes = math.prod(shape) * dtype.itemsize
    if min(shape, default=0) < 0 or archive.getinfo(entry).file_size != nbytes:
        raise _damaged(name, f"{entry} should hold {nbytes} bytes for a {dtype.name} tensor of shape {shape} "
                             f"but holds {archive.getinfo(entry).file_size}")
    array = np.empty(shape, dtype)
    buffer, filled = memoryview(array.reshape(-1).view(np.uint8)), 0
    with archive.open(entry) as source:
        while filled < nbytes:
            n = source.readinto(buffer[filled:])
            if not n:
                raise _damaged(name, f"{entry} ends after {filled} of {nbytes} bytes")
            filled += n
        source.read(1)  # reaching the end is what makes zipfile check the entry's CRC
    if sys.byteorder == "big":
        array.byteswap(inplace=True)
    return array


def _normalise(map_location):
    if map_location is None or callable(map_location):
        return map_location
    if isinstance(map_location, dict):
        return {str(Device(k)): str(Device(v)) for k, v in map_location.items()}
    return str(Device(map_location))


def _on_device(array, target, saved, name):
    try:
        backend = get_backend(target)
    except RuntimeError as e:  # no CuPy, no GPU, or not that many GPUs
        where = saved if str(target) == saved else f"{saved} and mapped to {target}"
        raise SerializationError(f"load: {name} has tensors saved on {where}, which can't be used here ({e}); "
                                 f"pass map_location='cpu' (or another device) to load them there") from None
    cpu = get_backend("cpu")
    return Tensor._make(array if backend is cpu else backend.from_backend(array, cpu), backend)


def _place(array, record, map_location, name):
    """The loaded value for one tensor record: NumPy as saved, or a Tensor where map_location puts it."""
    if "numpy" in record:
        return array if record["numpy"] == "array" else array[()]
    saved = record["device"]
    if callable(map_location):
        t = map_location(Tensor._make(array, get_backend("cpu")), saved)
        if t is None:
            t = _on_device(array, saved, saved, name)
        elif not isinstance(t, Tensor):
            raise TypeError(f"load: map_location returned a {type(t).__name__}; it must return a Tensor "
                            f"(e.g. storage.to('cuda')) or None to put the tensor back on {saved}")
    else:
        target = map_location.get(saved, saved) if isinstance(map_location, dict) else map_location or saved
        t = _on_device(array, target, saved, name)
    t = Tensor._make(t.array, t._backend)  # a fresh leaf, whatever map_location returned
    return t.requires_grad_(True) if record["requires_grad"] else t


def _decode(node, values, objects):
    if node is None or type(node) in (bool, int, float, str):
        return node
    (tag, value), = node.items()
    if tag in ("list", "tuple"):
        items = [_decode(x, values, objects) for x in value]
        return items if tag == "list" else tuple(items)
    if tag in ("dict", "odict"):
        pairs = [(_decode(k, values, objects), _decode(v, values, objects)) for k, v in value]
        return dict(pairs) if tag == "dict" else OrderedDict(pairs)
    if tag == "tensor":
        return values[value]
    if tag == "pickled":
        return objects[value]
    if tag == "complex":
        return complex(*value)
    if tag == "device":
        return Device(value)
    if tag == "dtype":
        return _DTYPES[value]
    raise ValueError(f"unknown node type {tag!r}")


def _load_checkpoint(fileobj, name, map_location, weights_only):
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        raise _why_not_a_zip(fileobj, name, e) from None
    with archive:
        names = archive.namelist()
        if MANIFEST not in names:
            raise _not_ours(names, name)
        try:
            manifest = json.loads(archive.read(MANIFEST))
            if manifest.get("format") != FORMAT:
                raise ValueError(f"its manifest names the format {manifest.get('format')!r}")
            if manifest["version"] > VERSION:
                raise SerializationError(f"load: {name} was written by a newer ndgrad (format version "
                                         f"{manifest['version']}, this one reads up to {VERSION}); upgrade ndgrad")
            records, pickled, root = manifest["tensors"], manifest["pickled"], manifest["root"]
            for i, record in enumerate(records):  # damage shows here, not later as if it were the caller's mistake
                needed = ("dtype", "shape") + (() if "numpy" in record else ("device", "requires_grad"))
                if not all(key in record for key in needed):
                    raise KeyError(f"tensor {i}'s record lacks one of {needed}")
                Device(record.get("device", "cpu"))
        except (zipfile.BadZipFile, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise _damaged(name, f"its manifest can't be read ({type(e).__name__}: {e})") from None
        if pickled and weights_only:
            raise WeightsOnlyError(
                f"load: {name} holds objects that a weights-only load does not restore: "
                f"{', '.join(sorted(set(pickled)))}. With weights_only=True only tensors, NumPy arrays, numbers, "
                f"strings, None, Devices, dtypes, and lists, tuples and dicts of them load, and nothing in the file "
                f"runs. If you trust the file's source (unpickling can run arbitrary code), pass "
                f"weights_only=False; or save plain data instead (model.state_dict() rather than the model)")
        values = []
        for i, record in enumerate(records):
            try:
                array = _read_array(archive, i, record, name)
            except (zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError, ValueError) as e:
                raise _damaged(name, f"tensor {i} can't be read ({type(e).__name__}: {e})") from None
            values.append(_place(array, record, map_location, name))
        objects = []
        if pickled:
            try:
                with archive.open(OBJECTS) as source:
                    objects = pickle.load(source)
            except (zipfile.BadZipFile, KeyError, EOFError) as e:
                raise _damaged(name, f"its pickled objects can't be read ({type(e).__name__}: {e})") from None
        try:
            return _decode(root, values, objects)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            raise _damaged(name, f"its manifest describes an impossible object ({type(e).__name__}: {e})") from None


def load(f, map_location=None, weights_only=True):
    """Load an object that ``save`` wrote to ``f`` (a path or a binary file object).

    ``map_location`` says where tensors go: None (the device each was saved on; an error suggests
    map_location='cpu' when that device is not usable here), a device ("cpu", "cuda", a Device), a
    dict {saved device: device} (devices not in it stay), or a callable ``fn(tensor, location)``
    receiving each tensor as a CPU Tensor with its saved data and the saved device's name ("cuda:0")
    and returning the Tensor to use, or None for the default. It does not reach into pickled objects.
    """
    map_location = _normalise(map_location)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fileobj:
            return _load_checkpoint(fileobj, os.fspath(f), map_location, weights_only)
    name = getattr(f, "name", repr(f))
    if not f.seekable():  # zip archives are read from the end
        f = io.BytesIO(f.read())
    return _load_checkpoint(f, name, map_location, weights_only)


# --- interchange: state dicts as .safetensors and .npz ------------------------------------------------

def _host_arrays(state_dict, what):
    arrays = {}
    for key, value in state_dict.items():
        arrays[key] = _host_array(value.detach() if isinstance(value, Tensor) else np.asarray(value))
        if what == "npz" and arrays[key].dtype == dtypes.bfloat16:
            raise TypeError(f"save_npz: {key} is bfloat16, which .npz can't describe; save_safetensors keeps it, "
                            f"or convert it first (t.float())")
    return arrays


def _import_safetensors(op):
    try:
        import safetensors.numpy
        return safetensors.numpy
    except ImportError:
        raise ImportError(f"{op}: needs the safetensors package; pip install 'ndgrad[io]' "
                          f"(or pip install safetensors)") from None


def save_safetensors(state_dict, path, metadata=None):
    """Write a state_dict (str -> Tensor or array) as .safetensors, atomically; PyTorch reads it with
    safetensors.torch.load_file. ``metadata`` is an optional dict of str -> str."""
    data = _import_safetensors("save_safetensors").save(_host_arrays(state_dict, "safetensors"), metadata=metadata)
    _atomic_write(path, lambda out: out.write(data))


def load_safetensors(path, device="cpu"):
    """A .safetensors file as an OrderedDict of str -> Tensor on ``device``, ready for load_state_dict."""
    reader = _import_safetensors("load_safetensors")
    try:
        arrays = reader.load_file(os.fspath(path))
    except FileNotFoundError:
        raise
    except Exception as e:  # safetensors reports damage with its own exception types, KeyError for dtypes
        raise SerializationError(f"load_safetensors: {path} can't be read as safetensors ({type(e).__name__}: "
                                 f"{e}); bfloat16 entries are not supported through NumPy") from None
    return OrderedDict((key, tensor(array, device=device)) for key, array in arrays.items())


def save_npz(state_dict, path):
    """Write a state_dict as NumPy's .npz (np.load reads it without pickle), atomically."""
    arrays = _host_arrays(state_dict, "npz")
    _atomic_write(path, lambda out: np.savez(out, **arrays))


def load_npz(path, device="cpu"):
    """An .npz file of arrays as an OrderedDict of str -> Tensor on ``device``; never unpickles."""
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as archive:
            return OrderedDict((key, tensor(archive[key], device=device)) for key in archive.files)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, AttributeError, zipfile.BadZipFile) as e:  # a .npy has no files
        raise SerializationError(f"load_npz: {path} can't be read as an .npz of numeric arrays "
                                 f"({type(e).__name__}: {e})") from None
