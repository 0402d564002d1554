"""A VisualDL log folder read back as the board reads it: the file VisualDL's reader picks for the folder (its
newest), parsed by VisualDL's own ``LogReader``."""

import os
from pathlib import Path


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the log in ``folder`` (one run) as its (step, value) records, in the order written."""
    from visualdl import LogReader

    (run, name), *others = LogReader(logdir=str(folder)).logs().items()
    assert not others, f"{folder} holds more than one run"
    log = LogReader(file_path=os.path.join(run, name))
    return {
        tag: [(record.id, record.value) for record in log.get_data("scalar", tag)] for tag in log.get_tags()["scalar"]
    }
