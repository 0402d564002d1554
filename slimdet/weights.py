"""Load and save weights by legacy parameter name, from every place PaddleDetection 0.x users keep them.

Sources ``load_weights`` understands:

* our ``.pdparams`` (a pickle of {legacy name: ndarray}, as written by ``save_weights`` and by 0.2+'s
  ``fluid.save``); a path without suffix whose ``<path>.pdparams`` exists works too, as in 0.x;
* a legacy release folder: one file per variable, file name = variable name, each in Paddle's
  LoDTensor format (docs/legacy.md, "Weight files"), possibly inside one top-level folder;
* a ``.tar`` of such a folder (read in memory, nothing extracted); a folder or tar holding no variable
  files but a single ``.pdparams`` is read as that checkpoint;
* an ``http(s)://`` URL of either: downloaded once into ``$SLIMDET_HOME/weights`` (default
  ``~/.cache/slimdet/weights``), checked completely in a temporary entry and renamed into place only
  when it is valid, so a failed or corrupt download never leaves a cache entry behind.

Variable files are parsed here rather than with ``paddle.load(dir)``, which accepts a truncated file
without complaint; a bad file must be one clear ``WeightsError`` that names it.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from slimdet._files import atomic_path
from slimdet.errors import WeightsError

Progress = Callable[[int, int | None], None]  # (bytes downloaded so far, total bytes or None)

# TensorDesc data_type enum (framework.proto) -> numpy dtype.
_DTYPES = {
    0: np.bool_, 1: np.int16, 2: np.int32, 3: np.int64, 4: np.float16,
    5: np.float32, 6: np.float64, 20: np.uint8, 21: np.int8,
}  # fmt: skip
# Files a legacy model folder may hold that are not variables.
_NOT_VARIABLES = frozenset({"__model__", "__params__", "infer_cfg.yml"})
_NON_VARIABLE_SUFFIXES = (".pdmodel", ".pdparams", ".pdopt", ".pdiparams", ".yml", ".yaml", ".txt", ".md")
_SHOWN = 5  # names quoted in an error message
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LoadReport:
    """What a load did, by legacy name: the caller (or ``strict``) decides what is fatal."""

    source: str
    matched: tuple[str, ...]
    missing: tuple[str, ...]  # in the model, not in the source
    unexpected: tuple[str, ...]  # in the source, not in the model (optimizer state, other heads, …)
    shape_mismatched: tuple[str, ...]  # in both, with different shapes: left untouched
    excluded: tuple[str, ...] = ()  # skipped because they match the exclude patterns

    def to_dict(self) -> dict[str, Any]:
        lists = {
            "matched": list(self.matched),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "shape_mismatched": list(self.shape_mismatched),
            "excluded": list(self.excluded),
        }
        return {"source": self.source, "counts": {k: len(v) for k, v in lists.items()}, **lists}


# -- model side ----------------------------------------------------------------------------------


def legacy_state(model: Any) -> dict[str, Any]:
    """Every persistable of ``model`` (parameters and BN statistics) by its legacy name.

    The legacy name is ``param.name`` without the model's ``name_prefix`` (e.g. ``teacher_``), so a
    teacher reads the same files as a student.
    """
    prefix = getattr(model, "name_prefix", "")
    state: dict[str, Any] = {}
    for tensor in model.state_dict().values():
        name = tensor.name[len(prefix) :] if prefix and tensor.name.startswith(prefix) else tensor.name
        state[name] = tensor
    return state


def save_weights(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s persistables as a ``.pdparams`` keyed by legacy names, atomically."""
    return save_atomic({name: tensor.numpy() for name, tensor in legacy_state(model).items()}, path)


def save_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``paddle.save`` ``obj`` into a temp file beside ``path``, renamed into place. Straight to the file: through
    an in-memory buffer, a checkpoint's optimizer state (as large as the weights) was copied twice more and cost
    three times the CPU."""
    import paddle

    path = Path(path)
    with atomic_path(path) as tmp:
        paddle.save(obj, str(tmp), protocol=4)
    return path


def load_weights(
    model: Any,
    source: str | os.PathLike[str],
    *,
    strict: bool,
    exclude: str | Sequence[str] | None = None,
    progress: Progress | None = None,
    partial_load_hint: bool = True,
) -> LoadReport:
    """Copy the values of ``source`` into ``model`` by legacy name; return what matched and what did not.

    ``strict=True`` (the config's ``weights``): any missing or differently shaped parameter raises
    ``WeightsError`` and nothing is changed. ``strict=False`` (``pretrain_weights``): whatever matches
    in name and shape is loaded; names matching ``exclude`` (regexes applied with ``re.match``, as
    0.x's ``finetune_exclude_pretrained_params``) are skipped. Names in the source that the model does
    not have (optimizer ``*_velocity_0``, ``learning_rate_0``, another head) are reported as unexpected.
    A load that matches nothing at all is an error either way: it is the wrong file. ``partial_load_hint``: a
    strict failure suggests loading the file as ``pretrain_weights`` (not where it already is one).
    """
    patterns = _compile(exclude)
    values = read_weights(source, progress=progress)
    targets = legacy_state(model)
    matched, missing, mismatched, excluded = [], [], [], []
    mismatch_details = []
    for name, tensor in targets.items():
        if any(p.match(name) for p in patterns):
            excluded.append(name)
        elif name not in values:
            missing.append(name)
        elif tuple(values[name].shape) != tuple(tensor.shape):
            mismatched.append(name)
            mismatch_details.append(
                f"'{name}' {list(values[name].shape)} in the file, {list(tensor.shape)} in the model"
            )
        else:
            matched.append(name)
    report = LoadReport(
        source=str(source),
        matched=tuple(matched),
        missing=tuple(missing),
        unexpected=tuple(sorted(set(values) - set(targets))),
        shape_mismatched=tuple(mismatched),
        excluded=tuple(excluded),
    )
    if not matched:
        raise WeightsError(
            f"no parameter of the model is in {source} ({len(values)} variables there, e.g. "
            f"{_quote(sorted(values))}): is it the weights of another model?"
        )
    if strict and (missing or mismatched):
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing ({_quote(missing)})")
        if mismatched:
            problems.append(f"{len(mismatched)} with another shape ({'; '.join(mismatch_details[:_SHOWN])})")
        raise WeightsError(
            f"{source} does not fit the model: {', '.join(problems)}; check that the config (backbone, "
            "num_classes, pruning plan) is the one these weights were trained with"
            + (", or load them as pretrain_weights for a partial load" if partial_load_hint else "")
        )
    from paddle.base.data_feeder import convert_dtype

    for name in matched:
        tensor = targets[name]
        tensor.set_value(np.asarray(values[name], dtype=convert_dtype(tensor.dtype)))
    return report


def _compile(exclude: str | Sequence[str] | None) -> list[re.Pattern[str]]:
    if exclude is None:
        return []
    patterns = [exclude] if isinstance(exclude, str) else list(exclude)
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise WeightsError(f"exclude pattern {pattern!r} is not a valid regular expression: {err}") from None
    return compiled


def _quote(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


# -- reading sources -----------------------------------------------------------------------------


def read_weights(source: str | os.PathLike[str], *, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """All variables of a weights source (see the module docstring) as {legacy name: ndarray}."""
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        return read_weights(fetch_url(text, progress=progress))
    path = Path(text).expanduser()
    if path.is_dir():
        return _parse_variables(_folder_files(path), path)
    if path.is_file():
        if tarfile.is_tarfile(path):
            return _parse_variables(_tar_files(path), path)
        if path.suffix == ".tar":
            raise WeightsError(f"{path} is not a readable tar archive (truncated or corrupt download?)")
        return _read_pdparams(path, path)
    if path.suffix == ".pdparams":
        raise WeightsError(f"weights not found: {path}")
    with_suffix = Path(f"{path}.pdparams")
    if with_suffix.is_file():
        return _read_pdparams(with_suffix, with_suffix)
    raise WeightsError(f"weights not found: {path} (neither a file, a folder nor {with_suffix.name})")


def _read_pdparams(source: Path | io.BytesIO, label: str | Path) -> dict[str, np.ndarray]:
    import paddle

    try:
        state = paddle.load(source if isinstance(source, io.BytesIO) else str(source), return_numpy=True)
    except Exception as err:  # paddle and pickle raise many types for a damaged file; all mean the same
        raise WeightsError(f"cannot read {label} as .pdparams weights ({type(err).__name__}: {err})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise WeightsError(f"{label} is not a weights file: expected a mapping of names to arrays")
    return dict(state)


def _folder_files(root: Path) -> dict[str, bytes]:
    """{path relative to ``root``: bytes} of every variable or .pdparams file below ``root`` (links not followed)."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and (_is_variable(relative) or relative.endswith(".pdparams")):
            files[relative] = path.read_bytes()
    return files


def _tar_files(path: Path) -> dict[str, bytes]:
    """{member name: bytes} of the regular files of a tar, refusing members that would escape a folder."""
    try:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, path)
            return {
                PurePosixPath(m.name).as_posix(): tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in members
                if m.isreg()
            }
    except (tarfile.TarError, EOFError, OSError) as err:
        raise WeightsError(f"{path} is not a readable tar archive ({err}); download it again") from None


def _check_member(member: tarfile.TarInfo, archive: Path | str) -> None:
    """Refuse absolute paths, ``..`` components, links pointing outside and special files."""
    name = member.name
    parts = PurePosixPath(name).parts
    escaping = name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts
    if not escaping and (member.issym() or member.islnk()):
        target = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        escaping = target.startswith("/") or resolved == ".." or resolved.startswith("../")
    if escaping:
        raise WeightsError(f"refusing {archive}: member '{name}' would be written outside the weights folder")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise WeightsError(f"refusing {archive}: member '{name}' is a device or pipe, not a weights file")


def _parse_variables(files: Mapping[str, bytes], origin: Path | str) -> dict[str, np.ndarray]:
    """Parse every variable file; names are paths relative to the single top folder, if there is one.

    A folder or tar holding no variable files but exactly one ``.pdparams`` is read as that checkpoint.
    """
    checkpoints = {name: data for name, data in files.items() if name.endswith(".pdparams")}
    files = {name: data for name, data in files.items() if _is_variable(name)}
    if not files and len(checkpoints) == 1:
        [(name, data)] = checkpoints.items()
        return _read_pdparams(io.BytesIO(data), f"{origin}:{name}")
    if not files:
        raise WeightsError(f"{origin} holds no variable files: is it a legacy weights folder or tar?")
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        files = {name.split("/", 1)[1]: data for name, data in files.items()}
    return {name: parse_lod_tensor(data, name=name) for name, data in files.items()}


def _is_variable(relative: str) -> bool:
    base = relative.rsplit("/", 1)[-1]
    return not (base.startswith(".") or base in _NOT_VARIABLES or base.endswith(_NON_VARIABLE_SUFFIXES))


def parse_lod_tensor(data: bytes, *, name: str = "variable") -> np.ndarray:
    """Decode one variable file in Paddle's LoDTensor format (docs/legacy.md, "Weight files"); errors name the file."""
    try:
        return _decode(memoryview(data))
    except (struct.error, ValueError, IndexError) as err:
        raise WeightsError(f"variable file '{name}' is damaged ({err}); download the weights again") from None


def _decode(buf: memoryview) -> np.ndarray:
    (version,) = struct.unpack_from("<I", buf, 0)
    if version != 0:
        raise ValueError(f"LoDTensor version {version}, expected 0")
    (lod_level,) = struct.unpack_from("<Q", buf, 4)
    offset = 12
    for _ in range(lod_level):
        (size,) = struct.unpack_from("<Q", buf, offset)
        offset += 8 + size
    tensor_version, desc_len = struct.unpack_from("<Ii", buf, offset)
    if tensor_version != 0:
        raise ValueError(f"tensor version {tensor_version}, expected 0")
    offset += 8
    if desc_len < 0 or offset + desc_len > len(buf):
        raise ValueError("tensor description runs past the end of the file")
    data_type, dims = _tensor_desc(buf[offset : offset + desc_len])
    offset += desc_len
    if data_type not in _DTYPES:
        raise ValueError(f"unsupported data type {data_type}")
    dtype = np.dtype(_DTYPES[data_type]).newbyteorder("<")
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(buf) - offset != expected:
        raise ValueError(f"{len(buf) - offset} data bytes for shape {dims}, expected {expected} (truncated?)")
    return np.frombuffer(buf[offset:], dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _tensor_desc(desc: memoryview) -> tuple[int, list[int]]:
    """Read the proto2 ``VarType.TensorDesc``: field 1 data_type, field 2 dims (packed or not)."""
    data_type, dims, pos = None, [], 0
    while pos < len(desc):
        key, pos = _varint(desc, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(desc, pos)
            if field == 1:
                data_type = value
            elif field == 2:
                dims.append(_signed(value))
        elif wire == 2:
            length, pos = _varint(desc, pos)
            end = pos + length
            if end > len(desc):
                raise ValueError("truncated tensor description")
            while field == 2 and pos < end:
                value, pos = _varint(desc, pos)
                dims.append(_signed(value))
            pos = end
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"bad wire type {wire} in tensor description")
    if data_type is None:
        raise ValueError("tensor description has no data type")
    if any(d < 0 for d in dims):
        raise ValueError(f"negative dimension in {dims}")
    return data_type, dims


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# -- URL cache -----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$SLIMDET_HOME/weights`` (default ``~/.cache/slimdet/weights``)."""
    home = os.environ.get("SLIMDET_HOME") or os.path.join("~", ".cache", "slimdet")
    return Path(home).expanduser() / "weights"


def cached_path(url: str) -> Path:
    """Where ``url`` lives once downloaded: its file name (a tar's without ``.tar``), prefixed by a
    short hash of the whole URL so that two URLs ending in the same file name never share an entry."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or "weights"
    stem = name[: -len(".tar")] if name.endswith(".tar") else name
    return cache_dir() / f"{hashlib.sha256(url.encode()).hexdigest()[:10]}-{stem}"


def fetch_url(url: str, *, progress: Progress | None = None) -> Path:
    """The local copy of ``url``: downloaded, checked and renamed into the cache on first use only.

    A tar is extracted (safely) to a folder and every variable in it parsed before the folder is
    renamed into place; a ``.pdparams`` is loaded once as a check. Anything that fails leaves no entry.
    """
    target = cached_path(url)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        download = work / "download"
        _download(url, download, progress)
        if tarfile.is_tarfile(download):
            ready = work / "extracted"
            _safe_extract(download, ready, url)
            read_weights(ready)  # every variable must parse before the entry exists
        elif url.endswith(".tar"):
            raise WeightsError(f"{url} is not a readable tar archive (truncated or corrupt download?)")
        else:
            _read_pdparams(download, url)
            ready = download
        os.replace(ready, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _download(url: str, dest: Path, progress: Progress | None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as err:
        raise WeightsError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise WeightsError(f"cannot download {url}: {reason}; check the URL and the network") from None
    if total is not None and done != total:
        raise WeightsError(f"download of {url} stopped after {done} of {total} bytes; try again")


def _safe_extract(archive: Path, dest: Path, origin: str) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, origin)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as err:  # second line of defence behind _check_member
        raise WeightsError(f"refusing {origin}: {err}") from None
    except (tarfile.TarError, EOFError, OSError) as err:
        raise WeightsError(f"{origin} is not a readable tar archive ({err}); download it again") from None
