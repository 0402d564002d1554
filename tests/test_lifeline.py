"""A child holding a lifeline exits on its own when its parent is killed: by the watchdog alone, when the
parent dies before the child gets to hold it, and when the child is another program (exec'd); a launched rank
ends with the command that started its launcher, even while paddle holds the GIL (``end_with``)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import running, wait_for

# A parent that starts one child holding a lifeline to it, prints the child's pid, then sleeps until killed.
PARENT = """
import os, subprocess, sys, time, multiprocessing
from slimdet._lifeline import Lifeline

def child(lifeline):
    lifeline.hold()
    print("holding", flush=True)
    time.sleep(120)

if __name__ == "__main__":
    kind = sys.argv[1]
    lifeline = Lifeline(os.getpid(), death_signal=kind != "watchdog")
    if kind == "program":
        sleeper = [sys.executable, "-c", "print('holding', flush=True); import time; time.sleep(120)"]
        pid = subprocess.Popen(sleeper, preexec_fn=lifeline.arm_before_exec).pid
    else:
        proc = multiprocessing.get_context("spawn").Process(target=child, args=(lifeline,), daemon=True)
        proc.start()
        pid = proc.pid
    print(pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize(
    ("kind", "kill_when"),
    [("watchdog", "holding"), ("signal", "at-once"), ("program", "holding")],
    ids=["watchdog-alone", "parent-dies-before-the-child-holds", "program-run-with-subprocess"],
)
def test_a_child_exits_soon_after_its_parent_is_sigkilled(tmp_path: Path, kind: str, kill_when: str):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), kind], stdout=subprocess.PIPE, text=True)
    lines = [parent.stdout.readline(), parent.stdout.readline() if kill_when == "holding" else ""]
    child = int(next(line for line in lines if line.strip().isdigit()))
    try:
        assert kill_when != "holding" or "holding\n" in lines  # then only the lifeline itself can notice
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_for(lambda: not running(child), timeout=5), "the child outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        if running(child):  # only when the test failed
            os.kill(child, signal.SIGKILL)


def test_a_parent_waiting_for_results_learns_that_a_helper_ended_instead():
    """next_result returns what arrives; once a helper has ended by the caller's rule, it raises naming it,
    while a helper that left as allowed (exit 0 here) is no reason to stop waiting."""
    import multiprocessing

    from slimdet._lifeline import HelperEnded, next_result

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    finished = ctx.Process(target=sys.exit, args=(0,), name="finished")
    finished.start()
    finished.join()
    results.put("a result")

    def failed(proc):
        return proc.exitcode not in (None, 0)

    assert next_result(results, [finished], ended=failed) == "a result"

    crashed = ctx.Process(target=sys.exit, args=(3,), name="crashed")
    crashed.start()
    crashed.join()
    with pytest.raises(HelperEnded) as stop:
        next_result(results, [finished, crashed], ended=failed)
    assert stop.value.helper is crashed and str(stop.value) == "crashed ended (exit code 3)"


# A rank blocked in a C call that keeps the GIL (as paddle's gloo rendezvous does): catastrophic regex
# backtracking runs for minutes inside the re module, which never lets the GIL go.
BLOCKED_RANK = """
import sys
from slimdet._lifeline import end_with
end_with(int(sys.argv[1]))
print("blocked", flush=True)
import re
re.match(r"(a+)+$", "a" * 40 + "b")
"""


def test_a_rank_holding_the_gil_ends_soon_after_the_command_is_sigkilled_even_left_a_zombie():
    command = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    rank = subprocess.Popen([sys.executable, "-c", BLOCKED_RANK, str(command.pid)], stdout=subprocess.PIPE, text=True)
    try:
        assert rank.stdout.readline() == "blocked\n"
        assert wait_for(lambda: running(rank.pid), timeout=1)  # blocked, not ended
        command.kill()  # not reaped yet: a zombie, as a command whose parent has not waited for it
        assert wait_for(lambda: rank.poll() is not None, timeout=5), "the rank outlived its command"
        assert rank.returncode == -signal.SIGKILL
    finally:
        for process in (rank, command):
            process.kill()
            process.wait()
