"""slimdet: prune and distill YOLOv3 detectors, PaddleDetection 0.x compatible.

These must happen before anything imports paddle, so they happen here:

* ``import zlib`` — paddle 2.6.2 exports its own zlib symbols; if Python's zlib module is loaded after
  paddle, ``zlib.decompress`` (gzip, tarfile, scipy) fails or segfaults.
* ``OMP_NUM_THREADS`` — paddle forces it to 1 at import unless it is already set, which leaves CPU
  convolutions on one core. We default it to the machine's core count; ``slimdet --threads N`` overrides.
* ``MKL_DEBUG_CPU_TYPE`` — on AMD CPUs paddle's MKL would run its slow generic kernels (see
  ``runtime.default_mkl_code_path``).
* glibc's malloc — kept from returning freed memory to the kernel, so that training steps stop paying page
  faults for the same buffers again (``runtime.keep_freed_memory``).
* stderr — paddle warns about ``OMP_NUM_THREADS`` at import and glog logs INFO lines; neither may reach
  a user's stderr (``runtime.quiet_paddle_import``, ``runtime.quiet_native_logs``).
"""

import zlib  # noqa: F401  (must precede paddle, see the module docstring)

import warnings

# paddleslim imports distutils, and setuptools' shim warns about it on every command.
warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")

from slimdet.runtime import (
    default_mkl_code_path,
    default_threads,
    keep_freed_memory,
    missing_paddle_message,
    quiet_native_logs,
    quiet_paddle_import,
)

__version__ = "0.1.0"

default_threads()
default_mkl_code_path()
keep_freed_memory()
quiet_native_logs()
quiet_paddle_import()

_missing = missing_paddle_message()
if _missing:
    raise ImportError(_missing)
