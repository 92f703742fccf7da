"""autograd.save / autograd.load: round trips, weights-only safety, damaged files, atomic writes,
map_location on a stand-in second device, exact resume in a fresh process, and interchange with
PyTorch through .safetensors and .npz."""

import importlib.util
import io
import json
import os
import pathlib
import pickle
import select
import subprocess
import sys
import textwrap
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import autograd as ag
import backends
import nn
import optim
from autograd.serialization import (SerializationError, WeightsOnlyError, load_npz, load_safetensors, save_npz,
                                    save_safetensors)
from backends import Device
from conftest import SecondDevice, assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBPROCESS_TIMEOUT = 120


def round_trip(obj, **load_kwargs):
    buffer = io.BytesIO()
    ag.save(obj, buffer)
    buffer.seek(0)
    return ag.load(buffer, **load_kwargs)


def same_bits(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same(actual, expected, path="obj"):
    """Deep equality that also checks types (bool is not int, tuple is not list, OrderedDict is kept)
    and compares tensors bit for bit."""
    assert type(actual) is type(expected) or isinstance(expected, ag.Tensor) and type(actual) is ag.Tensor, \
        f"{path}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, ag.Tensor):
        assert actual.device == expected.device and actual.requires_grad == expected.requires_grad, path
        assert same_bits(actual.detach().cpu().numpy(), expected.detach().cpu().numpy()), path
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert same_bits(actual, expected), path
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and expected != expected:
        assert actual != actual, path
    else:
        assert actual == expected, path


# --- round trips ---------------------------------------------------------------------------------

DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64",
          pytest.param("bfloat16", marks=pytest.mark.skipif(ag.bfloat16 is None, reason="needs ml_dtypes"))]
SHAPES = [(), (0,), (3, 0, 2), (7,), (2, 3, 4)]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    values = np.asarray(rng.standard_normal(shape) * 100)
    if ag.dtypes.to_dtype(dtype).kind == "f" and values.size >= 4:
        values.reshape(-1)[:4] = [np.nan, np.inf, -np.inf, -0.0]  # bit patterns that equality would miss
    return values.astype(ag.dtypes.to_dtype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_tensors_of_every_dtype_and_shape_round_trip_bit_for_bit(dtype, shape):
    t = ag.from_numpy(sample(dtype, shape))
    loaded = round_trip({"t": t})["t"]
    assert type(loaded) is ag.Tensor and loaded.dtype == t.dtype and loaded.shape == t.shape
    assert same_bits(loaded.numpy(), t.numpy())
    assert loaded.is_leaf and not loaded.requires_grad and loaded.array.flags.writeable
    loaded.array[...] = 0  # owns its memory: the original is untouched
    assert same_bits(t.numpy(), sample(dtype, shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_tensors_are_saved_as_their_values(dtype):
    base = sample(dtype, (6, 5))
    for view in (ag.from_numpy(base).T, ag.from_numpy(base[::2, 1:]), ag.from_numpy(base[:, ::-1])):
        assert_same(round_trip(view), view)


def test_numpy_values_stay_numpy():
    obj = [np.arange(6).reshape(2, 3).T, np.float32(1.5), np.bool_(True), np.int64(-3), np.complex128(1 - 2j),
           np.zeros((0,), np.float16)]
    assert_same(round_trip(obj), obj)


def test_python_values_and_containers_keep_their_types():
    obj = OrderedDict([
        ("none", None), ("flags", [True, False, 1, 0]), ("ints", (0, -7, 2 ** 100, -(2 ** 70))),
        ("floats", [0.1, 1e-310, -0.0, float("inf"), float("nan"), 1 / 3]), ("complex", 3 - 4.5j),
        ("text", "ümlaut \n \"quoted\" {json}"), ("empty", ([], (), {}, "")),
        (1, "int key"), ((2, "a"), "tuple key"), (None, "None key"), (1.5, "float key"), (False, "bool key"),
        ("nested", {"a": [{"b": (1, [2, {3: 4}])}], "od": OrderedDict(z=1, a=2)}),
        ("device", Device("cuda:1")), ("dtype", ag.float64),
    ])
    loaded = round_trip(obj)
    assert_same(loaded, obj)
    assert type(loaded["flags"][0]) is bool and type(loaded["flags"][2]) is int
    assert str(loaded["floats"][2]) == "-0.0"


def test_requires_grad_is_kept_and_parameters_come_back_as_leaf_tensors():
    p = nn.Parameter(ag.randn(2, 3))
    y = p * 2  # a non-leaf: saved as its values, loaded as a leaf that requires grad
    y.sum().backward()  # p now has a grad and a graph node: neither is saved
    loaded = round_trip({"p": p, "y": y, "d": p.detach()})
    assert type(loaded["p"]) is ag.Tensor and loaded["p"].requires_grad and loaded["p"].is_leaf
    assert loaded["y"].requires_grad and loaded["y"].grad_fn is None
    assert not loaded["d"].requires_grad and loaded["p"].grad is None
    assert_close(loaded["y"], y.detach())


def test_one_tensor_saved_twice_loads_as_one_tensor_but_views_are_separate():
    a = ag.randn(4)
    loaded = round_trip({"x": a, "y": a, "view": a[1:3]})
    assert loaded["x"] is loaded["y"]
    loaded["x"].array[1] = 100.0  # storage sharing between distinct tensors is not kept (documented)
    assert loaded["view"].array[0] != 100.0


def test_reference_cycles_are_refused_with_a_clear_error():
    cycle = [1]
    cycle.append(cycle)
    with pytest.raises(ValueError, match="contains itself"):
        ag.save(cycle, io.BytesIO())


def train_a_little(model, opt, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, y = ag.tensor(rng.standard_normal((4, 3)).astype(np.float32)), ag.tensor(rng.integers(0, 2, 4))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def mlp():
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                      lambda p: optim.Adam(p, lr=0.01, amsgrad=True)])
def test_model_and_optimizer_state_dicts_round_trip(tmp_path, make_opt):
    ag.manual_seed(0)
    model = mlp()
    opt = make_opt(model.parameters())
    train_a_little(model, opt)
    path = tmp_path / "ckpt.ndg"  # an os.PathLike
    ag.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, path)
    ckpt = ag.load(path)
    assert_same(ckpt["model"], model.state_dict())
    assert_same(ckpt["optim"], opt.state_dict())
    assert list(ckpt["optim"]["state"]) == [0, 1, 2, 3] and type(ckpt["optim"]["state"][0]) is dict
    ag.manual_seed(1)
    model2 = mlp()
    opt2 = make_opt(model2.parameters())
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    train_a_little(model, opt, seed=5)
    train_a_little(model2, opt2, seed=5)
    for p, q in zip(model.parameters(), model2.parameters()):
        assert same_bits(p.detach().numpy(), q.detach().numpy())


def test_scheduler_state_dict_round_trips():
    state = {"base_lrs": [0.1, 0.01], "last_epoch": 4, "_step_count": 5, "verbose": False, "_last_lr": [0.05, 0.005],
             "gamma": 0.5, "milestones": {2: 1, 4: 1}, "_get_lr_called_within_step": False, "lr_lambdas": [None]}
    assert_same(round_trip(state), state)


def test_rng_state_round_trips_and_reproduces_the_stream():
    ag.manual_seed(3)
    ag.randn(5)
    state = round_trip(ag.get_rng_state())
    expected = ag.randn(4)
    ag.manual_seed(99)
    ag.set_rng_state(state)
    assert same_bits(ag.randn(4).numpy(), expected.numpy())


@pytest.mark.parametrize("target", ["str", "pathlib", "file"])
def test_paths_and_file_objects(tmp_path, target):
    obj = {"w": ag.randn(3)}
    path = tmp_path / "x.ckpt"
    if target == "file":
        with open(path, "wb") as f:
            ag.save(obj, f)
        with open(path, "rb") as f:
            assert_same(ag.load(f), obj)
    else:
        where = str(path) if target == "str" else path
        ag.save(obj, where)
        assert_same(ag.load(where), obj)


# --- weights_only ------------------------------------------------------------------------------------

def test_whole_modules_need_weights_only_false(tmp_path):
    ag.manual_seed(0)
    model = mlp()  # no forward yet: the next test pickles one after a forward pass
    path = tmp_path / "model.ckpt"
    ag.save({"model": model, "epoch": 1}, path)
    with pytest.raises(WeightsOnlyError) as info:
        ag.load(path)
    message = str(info.value)
    assert isinstance(info.value, pickle.UnpicklingError)
    assert str(path) in message and "nn.modules.container.Sequential" in message and "weights_only=False" in message
    loaded = ag.load(path, weights_only=False)
    assert type(loaded["model"]) is nn.Sequential and loaded["epoch"] == 1
    x = ag.randn(2, 3)
    assert_close(loaded["model"](x), model(x), rtol=0, atol=0)


def test_whole_module_after_a_forward_pass(tmp_path):
    model = mlp()
    model(ag.randn(2, 3)).sum().backward()
    ag.save(model, tmp_path / "m.ckpt")
    loaded = ag.load(tmp_path / "m.ckpt", weights_only=False)
    assert_same(loaded.state_dict(), model.state_dict())


class RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_weights_only_never_unpickles(tmp_path):
    marker = str(tmp_path / "code-ran")
    path = tmp_path / "evil.ckpt"
    ag.save({"w": ag.ones(2), "payload": RunsCodeWhenUnpickled(marker)}, path)
    with pytest.raises(WeightsOnlyError, match="RunsCodeWhenUnpickled"):
        ag.load(path)
    assert not os.path.exists(marker)
    ag.load(path, weights_only=False)  # the payload really does run when asked to trust the file
    assert os.path.exists(marker)


# --- damaged and foreign files --------------------------------------------------------------------------

def good_checkpoint(path):
    ag.save({"w": ag.arange(1000, dtype=ag.float32), "b": ag.ones(3)}, path)


def rewrite_zip(path, change):
    """Rebuild the archive at ``path`` with ``change(name, data)`` applied (None drops the entry)."""
    with zipfile.ZipFile(path) as src:
        entries = [(name, src.read(name)) for name in src.namelist()]
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in entries:
            data = change(name, data)
            if data is not None:
                dst.writestr(name, data)


def flip_a_byte_in_tensor_data(path):
    good_checkpoint(path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("tensors/0")
    raw = bytearray(path.read_bytes())
    raw[info.header_offset + 30 + len(info.filename) + 100] ^= 0xFF  # local header, then the data
    path.write_bytes(bytes(raw))


def edit_manifest(edit):
    def damage(path):
        good_checkpoint(path)
        rewrite_zip(path, lambda name, data: edit(data) if name == "manifest.json" else data)
    return damage


def npz_file(path):
    with open(path, "wb") as f:
        np.savez(f, w=np.ones(2))


def torch_file(path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, path)


def manifest_with(**changes):
    def edit(data):
        manifest = json.loads(data)
        manifest.update(changes)
        return json.dumps(manifest)
    return edit


DAMAGES = {
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not a zip archive"),
    "text": (lambda p: p.write_text("epoch,loss\n1,0.5\n"), "not a zip archive"),
    "truncated": (lambda p: (good_checkpoint(p), p.write_bytes(p.read_bytes()[:2500])), "truncated or damaged"),
    "flipped byte": (flip_a_byte_in_tensor_data, "tensor 0 can't be read"),
    "missing entry": (lambda p: (good_checkpoint(p), rewrite_zip(p, lambda n, d: None if n == "tensors/1" else d)),
                      "tensor 1 can't be read"),
    "short entry": (lambda p: (good_checkpoint(p), rewrite_zip(p, lambda n, d: d[:-4] if n == "tensors/0" else d)),
                    "should hold 4000 bytes"),
    "manifest not json": (edit_manifest(lambda d: d[:40]), "manifest can't be read"),
    "foreign manifest": (edit_manifest(manifest_with(format="something-else")), "something-else"),
    "bad tree": (edit_manifest(manifest_with(root={"frobnicate": 1})), "frobnicate"),
    "bad dtype": (edit_manifest(lambda d: d.replace(b'"float32"', b'"object"', 1)), "unknown dtype 'object'"),
    "incomplete record": (edit_manifest(lambda d: d.replace(b'"requires_grad"', b'"rg"', 1)), "lacks one of"),
    "newer format": (edit_manifest(manifest_with(version=99)), "newer ndgrad"),
    "zip without manifest": (lambda p: zipfile.ZipFile(p, "w").close(), "no manifest.json"),
    "npz": (npz_file, "load_npz"),
    "torch .pt": (torch_file, "PyTorch checkpoint"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_and_foreign_files_raise_a_clear_error(tmp_path, damage):
    make, expected = DAMAGES[damage]
    path = tmp_path / "bad.ckpt"
    make(path)
    with pytest.raises(SerializationError) as info:
        ag.load(path)
    assert str(path) in str(info.value) and expected in str(info.value)
    assert isinstance(info.value, RuntimeError) and info.value.__cause__ is None


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        ag.load(tmp_path / "nope.ckpt")


# --- atomic writes ----------------------------------------------------------------------------------

def test_a_failed_save_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "ckpt"
    good_checkpoint(path)
    before = path.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        ag.save({"w": ag.zeros(100), "fn": lambda: 0}, path)  # a lambda can't be pickled: fails mid-save
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt"]
    assert_close(ag.load(path)["w"], ag.arange(1000, dtype=ag.float32))


def test_saving_into_a_missing_directory_names_the_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.*ckpt.*directory exists"):
        ag.save(1, tmp_path / "missing" / "ckpt")


KILL_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import autograd as ag
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "hold":
        # stop inside save once the new file is written but before it replaces the old one: the kill
        # then lands mid-save every time
        def fsync(fd):
            print("in save", flush=True)
            time.sleep(600)
        os.fsync = fsync
        ag.save({"step": 1, "w": ag.full((4_000_000,), 1.0)}, path)
    else:
        print("in save", flush=True)
        step = 1
        while True:
            ag.save({"step": step, "w": ag.full((4_000_000,), float(step))}, path)
            step += 1
""")


def run_script(script, *args, **popen_kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env, **popen_kwargs)


@pytest.mark.skipif(sys.platform == "win32", reason="select() on pipes and SIGKILL are POSIX")
@pytest.mark.parametrize("mode", ["hold", "loop"])
def test_a_kill_during_save_leaves_a_loadable_checkpoint(tmp_path, mode):
    path = tmp_path / "ckpt"
    ag.save({"step": 0, "w": ag.zeros(4_000_000)}, path)
    child = run_script(KILL_SCRIPT, path, mode, stdout=subprocess.PIPE)
    try:
        ready, _, _ = select.select([child.stdout], [], [], SUBPROCESS_TIMEOUT)
        assert ready and child.stdout.readline() == b"in save\n", "the saving process did not start"
        if mode == "loop":
            select.select([], [], [], 0.5)  # let it get through a few saves and into the middle of another
    finally:
        child.kill()  # SIGKILL: no cleanup runs
        child.wait(SUBPROCESS_TIMEOUT)
        child.stdout.close()
    ckpt = ag.load(path)
    if mode == "hold":
        assert ckpt["step"] == 0  # the complete new file was never renamed over the old one
        assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    w = ckpt["w"].numpy()
    assert w.shape == (4_000_000,) and np.all(w == ckpt["step"])


# --- exact resume in a fresh process ----------------------------------------------------------------------

RESUME_SCRIPT = textwrap.dedent("""
    import sys
    import autograd as ag, nn, optim
    import nn.functional as F
    mode, opt_name, steps, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ag.manual_seed(1 if mode == "resume" else 0)  # the resumed run must get everything from the checkpoint
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    if opt_name == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=0.01)
    if mode == "resume":
        ckpt = ag.load(path)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optim"])
        ag.set_rng_state(ckpt["rng"])
    for _ in range(steps):  # batches come from the generator, so its state must carry over too
        x, y = ag.randn(8, 5, dtype=ag.float64), ag.randint(0, 3, (8,))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    if mode == "first":
        ag.save({"model": model.state_dict(), "optim": opt.state_dict(), "rng": ag.get_rng_state()}, path)
    else:
        ag.save(model.state_dict(), path + ".final")
""")


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_resume_in_a_fresh_process_is_bitwise_exact(tmp_path, opt_name):
    ckpt, uninterrupted = str(tmp_path / "ckpt"), str(tmp_path / "full")
    for mode, steps, path in (("first", 5, ckpt), ("resume", 5, ckpt), ("full", 10, uninterrupted)):
        child = run_script(RESUME_SCRIPT, mode, opt_name, steps, path, stderr=subprocess.PIPE)
        _, err = child.communicate(timeout=SUBPROCESS_TIMEOUT)
        assert child.returncode == 0, err.decode()
    resumed, full = ag.load(ckpt + ".final"), ag.load(uninterrupted + ".final")
    assert list(resumed) == list(full)
    for key in full:
        assert full[key].dtype == ag.float64
        assert same_bits(resumed[key].numpy(), full[key].numpy()), key


# --- devices and map_location ---------------------------------------------------------------------------

def test_tensors_come_back_on_their_device(gpu):
    obj = {"g": ag.randn(2, 3, device="cuda"), "c": ag.arange(3)}
    loaded = round_trip(obj)
    assert loaded["g"]._backend is gpu and loaded["c"].device == Device("cpu")
    assert_same(loaded, obj)


@pytest.mark.parametrize("map_location,expected", [
    ("cpu", {"g": "cpu", "c": "cpu"}), (Device("cpu"), {"g": "cpu", "c": "cpu"}),
    ("cuda", {"g": "cuda:0", "c": "cuda:0"}), ({"cuda:0": "cpu"}, {"g": "cpu", "c": "cpu"}),
    ({"cpu": "cuda"}, {"g": "cuda:0", "c": "cuda:0"}), ({"cuda": "cuda:0"}, {"g": "cuda:0", "c": "cpu"}),
    (lambda storage, location: storage, {"g": "cpu", "c": "cpu"}),
    (lambda storage, location: storage.to("cuda"), {"g": "cuda:0", "c": "cuda:0"}),
    (lambda storage, location: None, {"g": "cuda:0", "c": "cpu"}),
])
def test_map_location(gpu, map_location, expected):
    obj = {"g": ag.randn(2, 3, device="cuda", requires_grad=True), "c": ag.arange(3)}
    loaded = round_trip(obj, map_location=map_location)
    for key, device in expected.items():
        assert loaded[key].device == Device(device), key
        assert (loaded[key]._backend is gpu) == (device == "cuda:0")
        assert loaded[key].requires_grad == obj[key].requires_grad and loaded[key].is_leaf
        assert same_bits(loaded[key].detach().cpu().numpy(), obj[key].detach().cpu().numpy())


def test_map_location_callable_sees_the_data_and_the_saved_device(gpu):
    seen = []
    obj = [ag.randn(2, device="cuda"), ag.ones(3, dtype=ag.int32)]
    round_trip(obj, map_location=lambda storage, location: seen.append((storage, location)))
    assert [location for _, location in seen] == ["cuda:0", "cpu"]
    for (storage, _), t in zip(seen, obj):
        assert storage.device == Device("cpu") and same_bits(storage.numpy(), t.cpu().numpy())
    with pytest.raises(TypeError, match="map_location returned a ndarray; it must return a Tensor"):
        round_trip(obj, map_location=lambda storage, location: storage.numpy())


def test_an_unusable_saved_device_suggests_map_location(monkeypatch, tmp_path):
    far = SecondDevice()
    far.device = Device("cuda:63")  # a GPU no machine here has, CuPy or not
    monkeypatch.setattr(backends, "_backends", dict(backends._backends, **{"cuda:63": far}))
    path = tmp_path / "far.ckpt"
    ag.save({"w": ag.Tensor._make(np.arange(3.0), far)}, path)
    monkeypatch.undo()
    with pytest.raises(SerializationError, match=r"saved on cuda:63.*map_location='cpu'") as info:
        ag.load(path)
    assert str(path) in str(info.value)
    ag.save(ag.ones(1), tmp_path / "cpu.ckpt")
    with pytest.raises(SerializationError, match=r"saved on cpu and mapped to cuda:62, which can't be used"):
        ag.load(tmp_path / "cpu.ckpt", map_location="cuda:62")
    assert ag.load(path, map_location="cpu")["w"].tolist() == [0.0, 1.0, 2.0]
    assert ag.load(path, map_location={"cuda:63": "cpu"})["w"].device == Device("cpu")


# --- interchange with PyTorch ------------------------------------------------------------------------------

def twin_models():
    torch = pytest.importorskip("torch")
    ag.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return torch, ours, theirs


def outputs_match(torch, ours, theirs):
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert_close(ours(ag.tensor(x)).detach(), expected, rtol=1e-6, atol=1e-6)


def test_safetensors_to_and_from_torch(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch, ours, theirs = twin_models()
    save_safetensors(ours.state_dict(), tmp_path / "ours.safetensors", metadata={"framework": "ndgrad"})
    theirs.load_state_dict(safetensors_torch.load_file(str(tmp_path / "ours.safetensors")))
    outputs_match(torch, ours, theirs)

    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(-2)
    safetensors_torch.save_file(theirs.state_dict(), str(tmp_path / "theirs.safetensors"))
    state = load_safetensors(tmp_path / "theirs.safetensors")
    assert all(type(v) is ag.Tensor for v in state.values())
    ours.load_state_dict(state)
    outputs_match(torch, ours, theirs)


def test_npz_to_and_from_torch(tmp_path):
    torch, ours, theirs = twin_models()
    save_npz(ours.state_dict(), tmp_path / "ours.npz")
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as arrays:
        theirs.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    outputs_match(torch, ours, theirs)

    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(1)
    np.savez(tmp_path / "theirs.npz", **{k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.load_state_dict(load_npz(tmp_path / "theirs.npz"))
    outputs_match(torch, ours, theirs)


def test_interchange_formats_keep_0d_tensors_0d(tmp_path):
    """BatchNorm's num_batches_tracked is 0-d: saved as such, torch's BatchNorm loads it (strictly)."""
    import torch
    state = {"scalar": ag.tensor(7, dtype=ag.int64), "vector": ag.ones(3)}
    formats = [(save_npz, load_npz, "s.npz")]
    if importlib.util.find_spec("safetensors") is not None:
        formats.append((save_safetensors, load_safetensors, "s.safetensors"))
    for save, load_, name in formats:
        save(state, tmp_path / name)
        loaded = load_(tmp_path / name)
        assert loaded["scalar"].shape == () and loaded["scalar"].item() == 7, name
        assert loaded["vector"].shape == (3,), name
    save_npz(nn.BatchNorm2d(3).state_dict(), tmp_path / "bn.npz")
    with np.load(tmp_path / "bn.npz") as arrays:
        torch.nn.BatchNorm2d(3).load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})


def test_interchange_helpers_load_onto_a_device_and_explain_bad_files(gpu, tmp_path):
    pytest.importorskip("safetensors")
    state = {"w": ag.randn(2, 2, device="cuda"), "n": ag.arange(3)}
    for save, load_, name in ((save_safetensors, load_safetensors, "s.safetensors"), (save_npz, load_npz, "s.npz")):
        save(state, tmp_path / name)
        loaded = load_(tmp_path / name, device="cuda")
        for key in state:
            assert loaded[key]._backend is gpu and loaded[key].dtype == state[key].dtype
            assert same_bits(loaded[key].cpu().numpy(), state[key].cpu().numpy())
        (tmp_path / name).write_bytes(b"not a tensor file")
        with pytest.raises(SerializationError, match=name):
            load_(tmp_path / name)
