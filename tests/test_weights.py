"""Weights by legacy name: .pdparams, legacy per-variable folders and tars, URLs through a safe cache."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import functools
import http.server
import io
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import paddle
import pytest
from paddle import nn

from slimdet.config import load_config
from slimdet.errors import WeightsError
from slimdet.modeling.build import build_model
from slimdet.modeling.layers import ConvBN, UnitNames
from slimdet.weights import load_weights, parse_lod_tensor, save_weights

OPTIMIZER_LEFTOVERS = ("conv1_weights_velocity_0", "learning_rate_0")
MOBILENET_VOC = Path(__file__).resolve().parents[1] / "configs" / "yolov3_mobilenet_v1_voc.yml"


def mobilenet_voc():
    """The VOC student at zero: these tests take its names and shapes, and the values they load."""
    return build_model(load_config(MOBILENET_VOC).to_dict(), random_init=False)


def write_legacy_folder(arrays: dict[str, np.ndarray], folder: Path) -> None:
    """One LoDTensor file per variable, written by Paddle itself (static ``save_vars``), as 0.x releases were."""
    paddle.enable_static()
    try:
        main = paddle.static.Program()
        with paddle.static.program_guard(main, paddle.static.Program()), paddle.utils.unique_name.guard():
            variables = [
                paddle.static.create_parameter(shape=list(a.shape), dtype=str(a.dtype), name=name)
                for name, a in arrays.items()
            ]
        scope = paddle.static.Scope()
        exe = paddle.static.Executor(paddle.CPUPlace())
        with paddle.static.scope_guard(scope):
            for name, a in arrays.items():
                scope.var(name).get_tensor().set(a, paddle.CPUPlace())
            paddle.static.save_vars(exe, str(folder), main, vars=variables)
    finally:
        paddle.disable_static()


def tar_folder(folder: Path, tar_path: Path, arcname: str) -> Path:
    with tarfile.open(tar_path, "w") as tar:
        tar.add(folder, arcname=arcname)
    return tar_path


class Tiny(nn.Layer):
    """Two units with legacy names (one dotted, one underscored): enough to exercise every load rule."""

    def __init__(self, name_prefix: str = "", out_channels: int = 2) -> None:
        super().__init__()
        self.name_prefix = name_prefix
        with paddle.utils.unique_name.guard():
            self.block = ConvBN(3, 4, 3, UnitNames.dotted(f"{name_prefix}yolo_block.0.0.0"))
            self.out = ConvBN(
                4, out_channels, 1, UnitNames.underscored(f"{name_prefix}conv1", f"{name_prefix}conv1_bn")
            )


def _tiny_arrays(seed: int = 0, out_channels: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        t.name: rng.standard_normal(t.shape).astype("float32")
        for t in Tiny(out_channels=out_channels).state_dict().values()
    }


def _values(model) -> dict[str, np.ndarray]:
    return {t.name: t.numpy() for t in model.state_dict().values()}


# -- the file format -----------------------------------------------------------------------------


def _lod_file(desc: bytes, data: bytes) -> bytes:
    return struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + data


def test_variable_file_format_of_reference_10_2_is_parsed():
    values = np.arange(12, dtype="<f4")
    plain = _lod_file(bytes.fromhex("08051004100310011001"), values.tobytes())  # dims one tag each
    packed = _lod_file(bytes.fromhex("0805120404030101"), values.tobytes())  # dims packed
    assert len(plain) == 78
    for blob in (plain, packed):
        np.testing.assert_array_equal(parse_lod_tensor(blob), values.reshape(4, 3, 1, 1))


def test_truncated_variable_file_names_the_file():
    blob = _lod_file(bytes.fromhex("08051004"), np.ones(4, "<f4").tobytes())
    with pytest.raises(WeightsError, match="'conv1_bn_mean' is damaged.*truncated"):
        parse_lod_tensor(blob[:-3], name="conv1_bn_mean")


# -- legacy releases: folder and tar -------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy_release(tmp_path_factory):
    """A MobileNet-VOC release as 0.x shipped it: folder + tar, random values, two optimizer leftovers."""
    rng = np.random.default_rng(0)
    model = mobilenet_voc()
    arrays = {t.name: rng.standard_normal(t.shape, dtype="float32") for t in model.state_dict().values()}
    arrays.update({name: np.ones([1], "float32") for name in OPTIMIZER_LEFTOVERS})
    root = tmp_path_factory.mktemp("release")
    folder = root / "yolov3_mobilenet_v1_voc"
    write_legacy_folder(arrays, folder)
    tar = tar_folder(folder, root / "yolov3_mobilenet_v1_voc.tar", "yolov3_mobilenet_v1_voc")
    return arrays, folder, tar


@pytest.mark.parametrize("kind", ["folder", "tar"])
def test_legacy_release_loads_exactly_into_a_fresh_model(legacy_release, kind):
    arrays, folder, tar = legacy_release
    model = mobilenet_voc()
    report = load_weights(model, folder if kind == "folder" else tar, strict=True)
    assert len(report.matched) == 241 and not report.missing and not report.shape_mismatched
    assert sorted(report.unexpected) == sorted(OPTIMIZER_LEFTOVERS)
    loaded = _values(model)
    assert max(float(np.abs(loaded[name] - arrays[name]).max()) for name in loaded) == 0.0


def test_extracted_release_is_found_below_its_single_top_folder(tmp_path):
    arrays = _tiny_arrays(2)
    write_legacy_folder(arrays, tmp_path / "extracted" / "tiny_release")
    model = Tiny()
    assert len(load_weights(model, tmp_path / "extracted", strict=True).matched) == 10
    np.testing.assert_array_equal(model.out.conv.weight.numpy(), arrays["conv1_weights"])


# -- our .pdparams -------------------------------------------------------------------------------


def test_saved_pdparams_round_trip_by_legacy_name_also_into_a_teacher(tmp_path):
    source = Tiny()
    for name, value in _tiny_arrays(1).items():
        dict((t.name, t) for t in source.state_dict().values())[name].set_value(value)
    path = save_weights(source, tmp_path / "model.pdparams")
    assert sorted(paddle.load(str(path), return_numpy=True)) == sorted(_tiny_arrays())  # keyed by legacy names
    assert [p.name for p in tmp_path.iterdir()] == ["model.pdparams"]  # no temp file left
    teacher = Tiny(name_prefix="teacher_")
    report = load_weights(teacher, path, strict=True)
    assert len(report.matched) == 10
    for name, value in _values(teacher).items():
        np.testing.assert_array_equal(value, _tiny_arrays(1)[name.removeprefix("teacher_")])


def test_a_tar_holding_one_pdparams_is_read_as_that_checkpoint(tmp_path):
    source = Tiny()
    source.out.conv.weight.set_value(np.full([2, 4, 1, 1], 3.0, "float32"))
    save_weights(source, tmp_path / "release" / "model_final.pdparams")
    model = Tiny()
    load_weights(model, tar_folder(tmp_path / "release", tmp_path / "release.tar", "release"), strict=True)
    np.testing.assert_array_equal(model.out.conv.weight.numpy(), np.full([2, 4, 1, 1], 3.0, "float32"))


def test_a_path_without_suffix_finds_its_pdparams_like_0x(tmp_path):
    save_weights(Tiny(), tmp_path / "model_final.pdparams")
    assert len(load_weights(Tiny(), tmp_path / "model_final", strict=True).matched) == 10


# -- strict and partial loads --------------------------------------------------------------------


def _folder(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder = tmp_path / "weights"
    write_legacy_folder(arrays, folder)
    return folder


def test_strict_load_refuses_missing_and_reshaped_params_and_changes_nothing(tmp_path):
    arrays = _tiny_arrays(out_channels=5)  # conv1 unit has 5 filters in the file, 2 in the model
    del arrays["yolo_block.0.0.0.bn.var"]
    model = Tiny()
    before = _values(model)
    with pytest.raises(WeightsError) as err:
        load_weights(model, _folder(tmp_path, arrays), strict=True)
    message = str(err.value)
    assert "1 missing ('yolo_block.0.0.0.bn.var')" in message
    assert "5 with another shape" in message and "'conv1_weights' [5, 4, 1, 1] in the file, [2, 4, 1, 1]" in message
    for name, value in _values(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_partial_load_skips_excluded_and_reshaped_params_and_reports_them(tmp_path):
    arrays = _tiny_arrays(out_channels=5)
    arrays["yolo_block.0.0.0.bn.scale"] = np.full([4], 7.0, "float32")
    model = Tiny()
    report = load_weights(model, _folder(tmp_path, arrays), strict=False, exclude=["yolo_block.0.0.0.bn.s"])
    assert report.excluded == ("yolo_block.0.0.0.bn.scale",)
    assert set(report.shape_mismatched) == {
        f"conv1_{s}" for s in ("weights", "bn_scale", "bn_offset", "bn_mean", "bn_variance")
    }
    assert set(report.matched) == {f"yolo_block.0.0.0.{s}" for s in ("conv.weights", "bn.offset", "bn.mean", "bn.var")}
    assert float(model.block.bn.weight.numpy().max()) == 1.0  # excluded: keeps its initial value
    np.testing.assert_array_equal(model.block.conv.weight.numpy(), arrays["yolo_block.0.0.0.conv.weights"])
    assert report.to_dict()["counts"] == {
        "matched": 4,
        "missing": 0,
        "unexpected": 0,
        "shape_mismatched": 5,
        "excluded": 1,
    }


def test_weights_of_another_model_are_an_error_even_when_partial(tmp_path):
    folder = _folder(tmp_path, {"fc_0.w_0": np.ones([2, 2], "float32")})
    with pytest.raises(WeightsError, match="no parameter of the model is in"):
        load_weights(Tiny(), folder, strict=False)


def test_bad_exclude_regex_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="not a valid regular expression"):
        load_weights(Tiny(), tmp_path, strict=False, exclude="yolo_block[")


def test_missing_path_and_non_tar_tar_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match=r"weights not found: .*nope \(neither a file, a folder nor nope.pdparams\)"):
        load_weights(Tiny(), tmp_path / "nope", strict=True)
    with pytest.raises(WeightsError, match=r"weights not found: .*nope.pdparams$"):  # no 'nope.pdparams.pdparams'
        load_weights(Tiny(), tmp_path / "nope.pdparams", strict=True)
    fake = tmp_path / "release.tar"
    fake.write_bytes(b"<html>not found</html>")
    with pytest.raises(WeightsError, match="not a readable tar archive"):
        load_weights(Tiny(), fake, strict=True)


def test_tar_with_a_link_pointing_outside_is_refused(tmp_path):
    link = tarfile.TarInfo("release/conv1_weights")
    link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    with tarfile.open(tmp_path / "evil.tar", "w") as tar:
        tar.addfile(link)
    with pytest.raises(WeightsError, match="outside the weights folder"):
        load_weights(Tiny(), tmp_path / "evil.tar", strict=True)


# -- URLs and the cache --------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path, monkeypatch):
    """A local HTTP server over a folder, counting GET requests; the cache lives in tmp_path."""
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv("SLIMDET_HOME", str(tmp_path / "home"))
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    # serve_forever looks for shutdown() every poll_interval: its default half-second would end every test late
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}", requests, tmp_path / "home" / "weights"
    finally:
        server.shutdown()
        server.server_close()


def test_url_downloads_once_then_loads_from_the_cache(web, tmp_path):
    served, base, requests, cache = web
    arrays = _tiny_arrays(3)
    tar_folder(_folder(tmp_path, arrays), served / "tiny_release.tar", "tiny_release")
    seen = []
    model = Tiny()
    report = load_weights(
        model, f"{base}/tiny_release.tar", strict=True, progress=lambda done, total: seen.append((done, total))
    )
    assert len(report.matched) == 10 and requests == ["/tiny_release.tar"]
    assert seen and seen[-1][0] == seen[-1][1] == (served / "tiny_release.tar").stat().st_size
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].is_dir() and entries[0].name.endswith("-tiny_release")
    again = Tiny()
    load_weights(again, f"{base}/tiny_release.tar", strict=True)
    assert requests == ["/tiny_release.tar"]  # cache hit: no second request
    for name, value in _values(again).items():
        np.testing.assert_array_equal(value, arrays[name])


def test_url_of_a_pdparams_is_cached_as_a_file(web, tmp_path):
    served, base, requests, cache = web
    save_weights(Tiny(), served / "model.pdparams")
    load_weights(Tiny(), f"{base}/model.pdparams", strict=True)
    load_weights(Tiny(), f"{base}/model.pdparams", strict=True)
    assert requests == ["/model.pdparams"]
    assert [p.is_file() for p in cache.iterdir()] == [True]


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    "case, message",
    [
        ("cut", "not a readable tar archive"),
        ("damaged_variable", "'conv1_weights' is damaged"),
        ("escaping", "'../escape' would be written outside"),
    ],
)
def test_bad_downloads_are_clear_errors_and_leave_no_cache_entry(web, tmp_path, case, message):
    served, base, _, cache = web
    good = _lod_file(bytes.fromhex("08051004"), np.ones(4, "<f4").tobytes())
    if case == "cut":
        blob = _tar_bytes({"r/conv1_weights": good * 400})[:1500]
    elif case == "damaged_variable":
        blob = _tar_bytes({"r/conv1_weights": good[:-5]})
    else:
        blob = _tar_bytes({"r/conv1_weights": good, "../escape": b"x"})
    (served / "bad.tar").write_bytes(blob)
    with pytest.raises(WeightsError, match=message):
        load_weights(Tiny(), f"{base}/bad.tar", strict=True)
    assert list(cache.iterdir()) == []  # not even a temporary folder
    assert not (tmp_path / "home" / "escape").exists() and not (cache / "escape").exists()


def test_unreachable_url_is_a_weights_error(web):
    _, base, _, cache = web
    with pytest.raises(WeightsError, match="HTTP 404"):
        load_weights(Tiny(), f"{base}/missing.tar", strict=True)
    assert list(cache.iterdir()) == []
