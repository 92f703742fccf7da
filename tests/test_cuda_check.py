"""The CUDA path checked without a GPU: kernels compiled by NVRTC, every CuPy name and keyword we use.

Needs CuPy (pinned, see CUPY_VERSION in cupy_standin.py) and NVRTC, installed by the
``cuda-check`` extra: ``pip install -e ".[cuda-check]"``; skipped with that hint otherwise.
Neither needs a device: CuPy imports without a driver, its code generator builds a kernel's
exact source, and NVRTC compiles it for a named architecture.
"""

import ast
import importlib
import inspect
import pathlib

import numpy as np
import pytest

from cupy_standin import CUPY_VERSION, compile_cuda, elementwise_source, nvrtc_version, one_unit, real_cupy

ROOT = pathlib.Path(__file__).resolve().parent.parent
HINT = "pip install -e '.[cuda-check]' (CuPy pinned to %s and the NVRTC wheel)" % CUPY_VERSION

cupy = real_cupy()
if cupy is None:
    pytest.skip(f"CuPy is not installed: {HINT}", allow_module_level=True)
if nvrtc_version(cupy) is None:
    pytest.skip(f"CuPy is installed but NVRTC does not load: {HINT}", allow_module_level=True)

ARCHS = ["sm_80", "sm_90"]
LAYOUTS = [(1, True), (2, False)]  # what CuPy's dimension reduction leaves: all contiguous, or strided 2-D
DTYPES = [np.float16, np.float32, np.float64]
try:
    import ml_dtypes
    DTYPES.append(ml_dtypes.bfloat16)  # ndgrad tensors may be bfloat16 on CUDA, so every T kernel sees it
except ImportError:
    pass


# --- the private CuPy internals the checks rely on ------------------------------------------------------

def test_cupy_internals_are_where_the_checks_expect():
    """Fails loudly when CuPy moves what elementwise_source/compile_cuda use: update them, then the pin."""
    assert cupy.__version__ == CUPY_VERSION, (
        f"CuPy {cupy.__version__} is installed, the CUDA checks are written against {CUPY_VERSION}: check "
        f"tests/cupy_standin.py's elementwise_source/compile_cuda against the new CuPy, then move the pin "
        f"(CUPY_VERSION and the cuda-check extra in pyproject.toml)")
    from cupy._core import _carray, _kernel, core
    from cupy.cuda import compiler
    for owner, name in [(_kernel, "_ArgInfo"), (_kernel, "_get_elementwise_kernel_code"), (_carray, "Indexer"),
                        (core, "assemble_cupy_compiler_options"), (core, "_cupy_header_list"),
                        (compiler, "_NVRTCProgram"), (cupy.ElementwiseKernel, "_decide_params_type")]:
        assert hasattr(owner, name), f"CuPy {cupy.__version__}: {owner.__name__}.{name} is gone"
    kernel = cupy.ElementwiseKernel("T x", "T y", "y = x + (T)1", "ndgrad_probe")
    source = elementwise_source(kernel, (np.float32,), 1, True)
    assert "typedef float T;" in source and "CArray<float, 1, 1, 1> _raw_y" in source, source
    assert 'extern "C" __global__ void ndgrad_probe(' in source
    assert compile_cuda(source, "ndgrad_probe", "sm_80")[:4] == b"\x7fELF"  # a cubin
    with pytest.raises(TypeError, match="Type is mismatched"):  # CuPy's own type resolution, no device
        cupy.ElementwiseKernel("T a, T b", "T c", "c = a + b", "ndgrad_probe")._decide_params_type(
            (np.dtype(np.float32), np.dtype(np.float64)), ())


def test_cupy_imports_without_a_gpu_and_says_so():
    assert cupy.is_available() in (True, False)
    if not cupy.is_available():
        with pytest.raises(cupy.cuda.runtime.CUDARuntimeError):
            cupy.cuda.runtime.getDeviceCount()


# --- every custom kernel, compiled -----------------------------------------------------------------------

KERNEL_TYPES = ("ElementwiseKernel", "RawKernel", "ReductionKernel", "RawModule")


KERNEL_MODULES = ["cupy_kernels", "cupy_optim_kernels"]  # the backends/ modules that build CuPy kernels


def _custom_kernels(modules=KERNEL_MODULES):
    """(module.name, real CuPy kernel) for every kernel object the ``modules`` of backends/ build at import."""
    found = {}
    for module_name in modules:
        module = importlib.import_module(f"backends.{module_name}")
        for name, value in vars(module).items():
            value = getattr(value, "_real", value)  # the stand-in's kernel wraps CuPy's
            if type(value).__name__ in KERNEL_TYPES and type(value).__module__.startswith("cupy"):
                found[f"{module_name}.{name}"] = value
    return found


def _kernel_calls_in_source(module_name):
    tree = ast.parse((ROOT / "backends" / f"{module_name}.py").read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr in KERNEL_TYPES]


KERNEL_HELPERS = ("_kernel",)  # module-level helpers of backends/ kernel modules that build one kernel per call


def _helper_calls_at_module_level(tree):
    return [n for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))
            for n in ast.walk(stmt) if isinstance(n, ast.Call) and getattr(n.func, "id", None) in KERNEL_HELPERS]


@pytest.mark.parametrize("module_name", KERNEL_MODULES)
def test_every_kernel_is_built_at_import_so_it_is_checked(module_name):
    """A kernel made inside a function (other than a helper called at import) would escape the compile check."""
    tree = ast.parse((ROOT / "backends" / f"{module_name}.py").read_text())
    helpers = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in KERNEL_HELPERS]
    in_helpers = sum(1 for f in helpers for n in ast.walk(f)
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in KERNEL_TYPES)
    built = len(_kernel_calls_in_source(module_name)) - in_helpers + len(_helper_calls_at_module_level(tree))
    assert built == len(_custom_kernels([module_name])), (
        f"backends/{module_name}.py builds a CuPy kernel that is not a module-level object; build it at import "
        f"so that tests/test_cuda_check.py compiles it")


# kernels only ever launched on contiguous 1-D buffers (optim/_flat.py's flat slices): their strided variant
# is never compiled on a GPU, so it is not compiled here either
CONTIGUOUS_ONLY = ("cupy_optim_kernels.",)


def _is_scalar(name, param):
    """Whether a fixed-type input is passed as a Python scalar: every one of the optimizer kernels' (``float64 lr``,
    ``bool maximize``); of the others only the float64 ones (slopes, scales), their bool masks and int64 class
    indices being arrays."""
    return param.dtype is not None and (name.startswith("cupy_optim_kernels.") or np.dtype(param.dtype) == np.float64)


def _kernel_source(name, kernel, dtype, ndim, contiguous):
    """CuPy's source for ``kernel`` with its T inputs of ``dtype``, its scalars declared as CuPy declares them and
    its other fixed-type inputs arrays of their type; only the ElementwiseKernel is taught here."""
    if type(kernel).__name__ != "ElementwiseKernel":
        pytest.fail(f"{name}: a {type(kernel).__name__}; teach tests/test_cuda_check.py to build its source")
    return elementwise_source(kernel, tuple(None if _is_scalar(name, p) else dtype if p.dtype is None else p.dtype
                                            for p in kernel.in_params), ndim, contiguous)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_kernel_compiles(arch):
    """Every kernel for every dtype and layout, in one NVRTC unit per architecture; on a failure, one by one."""
    kernels = _custom_kernels()
    variants = {(name, np.dtype(dtype).name, ndim, contiguous): _kernel_source(name, k, dtype, ndim, contiguous)
                for name, k in sorted(kernels.items()) for dtype in DTYPES for ndim, contiguous in LAYOUTS
                if contiguous or not name.startswith(CONTIGUOUS_ONLY)}
    try:
        cubin = compile_cuda(one_unit(list(variants.values())), "ndgrad_kernels", arch)
    except Exception:  # say which kernel: compile them one by one (CuPy's CompileException carries NVRTC's log)
        for (name, dtype, ndim, contiguous), source in variants.items():
            try:
                compile_cuda(source, kernels[name].name, arch, kernels[name].kwargs.get("options", ()))
            except Exception as e:
                pytest.fail(f"{name} ({kernels[name].name}) does not compile for {dtype}, "
                            f"{'contiguous' if contiguous else 'strided'}, {arch}:\n{e}")
        raise
    assert cubin[:4] == b"\x7fELF"


def test_one_unit_holds_every_kernel():
    """The joined unit really contains each kernel's entry point (so the compile above checks them all)."""
    kernels = _custom_kernels()
    assert all(not k.kwargs.get("options") for k in kernels.values()), "a kernel with options: compile it alone"
    unit = one_unit([_kernel_source(name, k, np.float32, 1, True) for name, k in kernels.items()])
    for i, k in enumerate(kernels.values()):
        assert f'extern "C" __global__ void unit{i}_{k.name}(' in unit


# --- every CuPy name and keyword the library uses ------------------------------------------------------------

PACKAGES = ["autograd", "backends", "nn", "optim"]
ROOTS = {"xp", "cupy", "cupyx", "cp"}  # xp, ctx.xp, self.xp, t._backend.xp ... and the modules themselves
NAME_ARGS = {"compare": 0, "logical": 0, "_create": 0, "_arg": 0}  # helpers that pass an xp function by name
UFUNC_KEYWORDS = {"out", "dtype", "casting"}


def _chain(node):
    """['xp', 'add', 'at'] for ctx.xp.add.at (the part from the array namespace on), else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    parts.reverse()
    for i, part in enumerate(parts[:-1]):
        if part in ROOTS:
            return parts[i:]
    return None


def _uses():
    """(file:line, root, attribute path, keywords) of every xp/cupy/cupyx attribute used, and the names
    passed as strings to helpers that look them up with getattr(xp, name)."""
    uses = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            where = lambda n: f"{path.relative_to(ROOT)}:{n.lineno}"  # noqa: E731
            calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Store):
                    chain = _chain(node)
                    if chain:
                        call = calls.get(id(node))
                        keywords = [k.arg for k in call.keywords if k.arg] if call is not None else []
                        uses.append((where(node), chain[0], tuple(chain[1:]), keywords))
                if isinstance(node, ast.Call):
                    fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                    names = [k.value for k in node.keywords if k.arg == "fn" and isinstance(k.value, ast.Constant)]
                    if fn in NAME_ARGS and len(node.args) > NAME_ARGS[fn]:
                        names.append(node.args[NAME_ARGS[fn]])
                    for n in names:
                        if isinstance(n, ast.Constant) and isinstance(n.value, str):
                            uses.append((where(node), "xp", (n.value,), []))
    return uses


def _longest_uses():
    """Only the full path of each use (xp.add.at, not also xp.add)."""
    uses = _uses()
    longest = {}
    for where, root, path, keywords in uses:
        key = (where, root)
        longest.setdefault(key, []).append((path, keywords))
    out = []
    for (where, root), entries in longest.items():
        for path, keywords in entries:
            if not any(len(p) > len(path) and p[:len(path)] == path for p, _ in entries):
                out.append((where, root, path, keywords))
    return out


def _resolve(root, path):
    import cupyx
    obj = cupyx if root == "cupyx" else cupy
    for part in path:
        obj = getattr(obj, part)
    return obj


def _accepted_keywords(obj):
    if type(obj).__name__ == "ufunc":
        return UFUNC_KEYWORDS
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None  # a Cython function without a signature: only the name is checked
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def test_the_static_check_sees_the_library():
    """The walk finds what it must (so a broken walk cannot pass the check below by finding nothing)."""
    paths = {(root, path) for _, root, path, _ in _longest_uses()}
    for expected in [("xp", ("add", "at")), ("xp", ("sqrt",)), ("xp", ("asarray",)), ("cupy", ("ElementwiseKernel",)),
                     ("xp", ("less",)), ("xp", ("zeros",))]:
        assert expected in paths, f"the static check no longer sees {expected}"


def test_every_cupy_name_and_keyword_the_library_uses_exists():
    problems = []
    for where, root, path, keywords in _longest_uses():
        name = f"{'cupyx' if root == 'cupyx' else 'cupy'}.{'.'.join(path)}"
        try:
            obj = _resolve(root, path)
        except AttributeError:
            problems.append(f"{where}: {name} does not exist in CuPy {cupy.__version__}")
            continue
        accepted = _accepted_keywords(obj) if keywords else None
        wrong = sorted(set(keywords) - accepted) if accepted is not None else []
        if wrong:
            problems.append(f"{where}: {name}() takes no keyword(s) {wrong} in CuPy (it takes {sorted(accepted)})")
    assert not problems, "CuPy would fail these calls on a GPU:\n" + "\n".join(problems)


# --- every kernel's CUDA C body, run on the host ---------------------------------------------------------------
# The stand-in runs a NumPy reference of each kernel (cupy_standin.REFERENCES), and test_kernels.py holds those
# references to the generic kernels. Here the kernels' own C bodies (the operation and preamble CuPy compiles)
# are compiled for the CPU by a host C++ compiler, run on float32 and float64 data and held to the references:
# together, the CUDA C computes what the generic kernels compute (float16/bfloat16 bodies are compiled by NVRTC
# above but run here only through CuPy's own half types, which need a GPU).

HOST_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(bool): "bool",
               np.dtype(np.int64): "long long"}


def _host_unit(kernels):
    """One C++ file: each kernel, for T = float and T = double, as a loop over flat arrays."""
    parts = ["#include <cmath>", "using namespace std;"]
    for k, kernel in enumerate(kernels):
        parts.append(f"namespace ndgrad_host_{k} {{\n{kernel.preamble}")
        for ctype in ("float", "double"):
            params = list(kernel.in_params) + list(kernel.out_params)
            args = ", ".join(f"{'const ' if p in kernel.in_params else ''}"
                             f"{ctype if p.dtype is None else HOST_CTYPES[np.dtype(p.dtype)]}* _raw_{p.name}"
                             for p in params)
            refs = " ".join(f"{'const ' if p in kernel.in_params else ''}T& {p.name} = _raw_{p.name}[i];"
                            if p.dtype is None else
                            f"{'const ' if p in kernel.in_params else ''}{HOST_CTYPES[np.dtype(p.dtype)]}& "
                            f"{p.name} = _raw_{p.name}[i];" for p in params)
            parts.append(f'extern "C" void {kernel.name}_{ctype}(long n, {args}) {{\n  typedef {ctype} T;\n'
                         f"  for (long i = 0; i < n; ++i) {{ {refs}\n{kernel.operation};\n  }}\n}}")
        parts.append("}")
    return "\n".join(parts)


def _host_inputs(kernel, dtype, rng):
    """Arguments for the C loop and for the NumPy reference: T arrays, bool masks, float64 scalars (1.5)."""
    c_args, ref_args = [], []
    for p in kernel.in_params:
        if p.dtype is None:
            a = (rng.standard_normal(64) * 3).astype(dtype)
            a[::9] = 0
            c_args.append(a)
            ref_args.append(a)
        elif np.dtype(p.dtype) == np.int64:  # class indices, some equal to the ignore_index (scalars: 1.5 -> -1)
            a = rng.integers(-1, 5, 64)
            c_args.append(a)
            ref_args.append(a)
        elif np.dtype(p.dtype) == bool:
            a = rng.random(64) < 0.5
            c_args.append(a)
            ref_args.append(a)
        else:
            c_args.append(np.full(64, 1.5))
            ref_args.append(1.5)
    return c_args, ref_args


def test_every_kernel_body_computes_its_reference_on_the_host(tmp_path):
    import ctypes
    import shutil
    import subprocess
    from cupy_standin import REFERENCES
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no host C++ compiler (g++ or clang++) to run the kernels' C bodies")
    kernels = [k for _, k in sorted(_custom_kernels(["cupy_kernels"]).items())]  # (the optimizer kernels: their own)
    (tmp_path / "kernels.cpp").write_text(_host_unit(kernels))
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(tmp_path / "kernels.so"),
                    str(tmp_path / "kernels.cpp")], check=True, capture_output=True, text=True)
    library = ctypes.CDLL(str(tmp_path / "kernels.so"))
    rng = np.random.default_rng(0)
    for kernel in kernels:
        for dtype, ctype in ((np.float32, "float"), (np.float64, "double")):
            c_args, ref_args = _host_inputs(kernel, dtype, rng)
            outs = [np.empty(64, dtype if p.dtype is None else p.dtype) for p in kernel.out_params]
            getattr(library, f"{kernel.name}_{ctype}")(
                ctypes.c_long(64), *[ctypes.c_void_p(a.ctypes.data) for a in c_args + outs])
            with np.errstate(all="ignore"):  # inf and nan as the C body makes them
                expected = REFERENCES[kernel.name](*ref_args)
            expected = expected if isinstance(expected, tuple) else (expected,)
            eps = np.finfo(dtype).eps
            for got, want in zip(outs, expected):
                want = np.asarray(want).astype(got.dtype)
                scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(want), 0, want)))))  # cancellation
                np.testing.assert_allclose(got, want, rtol=16 * eps, atol=64 * eps * scale,
                                           err_msg=f"{kernel.name} ({ctype}): the C body and the stand-in's "
                                                   f"reference disagree")
