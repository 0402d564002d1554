"""Process-level set-up that has to run before paddle is imported: threads, device, seeds."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.abc
import importlib.util
import io
import os
import random
import sys
from collections.abc import Iterator, MutableMapping
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

# What ``import paddle`` prints on stderr whenever OMP_NUM_THREADS is above 1 (a warning for data-parallel
# GPU users; slimdet sets the variable on purpose). Only lines starting with these are held back.
PADDLE_IMPORT_NOISE = ("WARNING: OMP_NUM_THREADS set to ", "PLEASE USE OMP_NUM_THREADS WISELY.")


def missing_paddle_message() -> str | None:
    """A one-line install hint when neither paddle wheel is present (checked without importing it)."""
    if importlib.util.find_spec("paddle") is not None:
        return None
    return "slimdet needs PaddlePaddle 2.6.2: pip install 'slimdet[cpu]' (or 'slimdet[gpu]' for CUDA machines)"


def default_threads() -> None:
    """Use every core unless the user chose otherwise (paddle would silently pin OMP to one thread)."""
    cores = str(os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", cores)
    os.environ.setdefault("FLAGS_paddle_num_threads", os.environ["OMP_NUM_THREADS"])


def default_mkl_code_path(
    environ: MutableMapping[str, str] = os.environ, cpuinfo: Path = Path("/proc/cpuinfo")
) -> None:
    """Let Paddle's MKL use its AVX2 kernels on AMD CPUs.

    Paddle 2.6 ships MKL 2019, which takes its generic SSE code path on any CPU whose vendor is not Intel:
    on an AMD EPYC, float GEMM (and so every dygraph convolution, forward and backward) ran at 47 GFLOP/s
    per core instead of 124. ``MKL_DEBUG_CPU_TYPE=5`` selects the AVX2 path, which any CPU reporting avx2
    runs. Set only when unset, so a user's own value wins; MKL reads it at its first call.
    """
    if "MKL_DEBUG_CPU_TYPE" in environ or not _is_amd_with_avx2(cpuinfo):
        return
    environ["MKL_DEBUG_CPU_TYPE"] = "5"


# glibc's mallopt parameters (malloc.h); the values are the largest a C int holds that still mean what they say.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED_BYTES = 1 << 30
_MMAP_ABOVE_BYTES = 32 << 20  # glibc's own ceiling for the threshold


def keep_freed_memory(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Let glibc's malloc reuse the memory a training step frees instead of handing it back to the kernel.

    Every step allocates and frees the same large buffers (batches, activations, gradients). By default
    glibc serves blocks above a moving threshold with fresh ``mmap`` pages and trims its heap on free, so
    each step pays for zero-filled pages again: in a training test module 2.2 million page faults and a
    fifth of its CPU time went to the kernel. Heap blocks up to 32 MiB and 1 GiB of freed heap kept back cut
    the faults to a quarter and the CPU time by a tenth; the resident size stays at its peak, which a
    training process reaches at its first step anyway. Linux/glibc only, and only where the user has not set
    ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` (glibc's own variables win). True if applied.
    """
    if sys.platform != "linux" or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & environ.keys():
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES))


def _is_amd_with_avx2(cpuinfo: Path) -> bool:
    """Read from the first processor's block only: every ``import slimdet`` runs this, and /proc/cpuinfo
    repeats the same block for every core."""
    fields = {}
    try:
        with open(cpuinfo, errors="replace") as lines:
            for line in lines:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:  # not Linux, or no /proc: leave MKL alone
        return False
    return fields.get("vendor_id") == "AuthenticAMD" and "avx2" in fields.get("flags", "").split()


def quiet_native_logs(environ: MutableMapping[str, str] = os.environ) -> None:
    """Keep paddle's glog INFO and WARNING lines (``New Executor is Running``, pass reports) off stderr;
    its errors still show. A user's own ``GLOG_minloglevel`` wins. Read once, when paddle loads."""
    environ.setdefault("GLOG_minloglevel", "2")


class _QuietPaddleLoader(importlib.abc.Loader):
    """Runs paddle's own loader with its import-time OMP warning held back; any other text it prints on
    stderr while loading is passed on, so real problems still show."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__.loader = module.__loader__ = self.loader  # the module keeps paddle's real loader
        held = io.StringIO()
        try:
            with contextlib.redirect_stderr(held):
                self.loader.exec_module(module)
        finally:
            lines = held.getvalue().splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not line.startswith(PADDLE_IMPORT_NOISE)))


class _QuietPaddleImport(importlib.abc.MetaPathFinder):
    """Finds ``paddle`` through the other finders and hands it to ``_QuietPaddleLoader``; any other name
    is left to them."""

    def __init__(self) -> None:
        self._searching = False  # set while the other finders are asked, so that they are not sent back here

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name != "paddle" or self._searching:
            return None
        self._searching = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._searching = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietPaddleLoader(spec.loader)
        return spec


def quiet_paddle_import() -> None:
    """Make the first ``import paddle`` in this process leave stderr to slimdet (see ``PADDLE_IMPORT_NOISE``).

    Commands import paddle lazily, from whichever module needs it first (``slimdet.cli`` must not load
    it), so the hook sits on the import system instead of at one import statement.
    """
    if "paddle" not in sys.modules and not any(isinstance(f, _QuietPaddleImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietPaddleImport())


class _NoCallStack:
    """Stands in for the ``traceback`` module inside paddle's ``framework`` (see ``without_op_callstacks``)."""

    @staticmethod
    def extract_stack(*_args: object, **_kwargs: object) -> list:
        return []


@contextlib.contextmanager
def without_op_callstacks() -> Iterator[None]:
    """Trace a static graph without storing each op's Python call stack in it.

    Paddle 2.6 gives every static op it creates the whole ``traceback.extract_stack()`` of its creation, each
    frame with its source line read from disk (``paddle/base/framework.py``, ``Operator.__init__``), to name
    that line should the op fail later. For a graph traced from slimdet's own model those lines are Paddle's
    and slimdet's, useful to nobody, and collecting them took a third of an export: the demo's
    MobileNetV1-YOLOv3 exported in 4.1-4.8 s instead of 7.2-7.4 s, its ``model.pdmodel`` 80 KB instead of
    130 KB; deeper call stacks (a notebook, a test runner) cost more. Only ``framework``'s own use is replaced,
    and only while the block runs.
    """
    import paddle.base.framework as framework

    saved = framework.traceback
    framework.traceback = _NoCallStack  # type: ignore[assignment]
    try:
        yield
    finally:
        framework.traceback = saved


def set_threads(threads: int) -> None:
    """Set the CPU thread count; effective only before paddle is first imported in this process."""
    if "paddle" in sys.modules:
        import paddle

        paddle.set_flags({"FLAGS_paddle_num_threads": threads})
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["FLAGS_paddle_num_threads"] = str(threads)


def cpu_threads(explicit: int | None = None) -> int:
    """Threads for backends that take a count (Paddle Inference, onnxruntime): ``explicit``, else what
    ``slimdet --threads`` (or ``default_threads``) put in OMP_NUM_THREADS, else the core count."""
    return explicit or int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def set_device(device: str) -> str:
    """Select ``cpu`` or ``gpu`` (``gpu:N`` too) for paddle; returns the device paddle reports."""
    import paddle

    from slimdet.errors import SlimdetError, did_you_mean

    kind, _, index = device.partition(":")
    if kind not in ("cpu", "gpu") or (kind == "cpu" and index) or (index and not index.isdigit()):
        raise SlimdetError(
            f"--device '{device}' is not a device slimdet knows{did_you_mean(kind, ('cpu', 'gpu'))}: "
            "use cpu, gpu or gpu:N"
        )
    if kind == "gpu" and not paddle.device.is_compiled_with_cuda():
        raise SlimdetError("this paddle build has no CUDA support: install 'slimdet[gpu]' or use --device cpu")
    if index and int(index) >= paddle.device.cuda.device_count():
        raise SlimdetError(
            f"--device {device}: this machine has {paddle.device.cuda.device_count()} GPUs (gpu:0 is the first)"
        )
    paddle.set_device(device)
    return paddle.device.get_device()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and paddle so that a run is repeatable."""
    import numpy as np
    import paddle

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)
