"""The rules the in-function imports guard: the CLI (and its --help) and the data package load no paddle, nor
matplotlib or VisualDL; ``slimdet curves``'s core loads no paddle.

Worker processes of the data loader import ``slimdet.data`` only; ``--help`` must answer without paddle's
seconds of start-up. A fresh interpreter shows what an import really pulls in.
"""

import subprocess
import sys

import pytest

CHECK = """
import sys
import {module}
{extra}
loaded = sorted(name for name in ("paddle", "paddleslim", "matplotlib", "visualdl") if name in sys.modules)
print(",".join(loaded))
"""


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("slimdet.cli", ""),  # registers every command module, as `slimdet --help` does
        ("slimdet.api", ""),  # a script or notebook importing the API pays nothing until a call
        ("slimdet.data", "import slimdet.data.synth, slimdet.data.check, slimdet.data.show"),
        ("slimdet.commands.curves", ""),  # JSON in, a picture out: matplotlib only once it draws
    ],
)
def test_importing_leaves_paddle_matplotlib_and_visualdl_unloaded(module, extra):
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module, extra=extra)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"importing {module} loaded {done.stdout.strip()}"
