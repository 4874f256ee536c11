import argparse
import dataclasses
import json
import re
import shlex

import pytest

from harness.config import (build_config, merge_input_shapes, parse_csv, parse_input_shapes,
                            parse_non_negative_int, parse_positive_int, parse_seconds)
from harness.errors import UsageError
from harness.models.build.calibration import calibration_feeds
from harness.models.inputs import concrete_shape, guess_warning, guessed_dims, make_feed
from harness.models.build import default_build_dir
from harness.models.manifest import InputSpec, TensorSpec, adhoc_model, load_manifest, resolve_model
from harness.models.variants import build_command
from tests.conftest import REPO


@pytest.mark.parametrize("parse, text", [
    (parse_positive_int, "0"), (parse_positive_int, "ten"), (parse_non_negative_int, "-1"),
    (parse_seconds, "soon"), (parse_seconds, "-2"), (parse_csv, " , "),
])
def test_option_parsers_reject_bad_values(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_option_parsers_accept_good_values():
    assert parse_csv("a, b,,c") == ("a", "b", "c")
    assert parse_seconds("0.5s") == 0.5
    assert parse_positive_int("3") == 3


def test_pyproject_defaults_then_options(repo_root):
    opts = argparse.Namespace(edgelab_iterations=7, edgelab_device=("all",))
    config = build_config(opts, repo_root)
    assert config.iterations == 7 and config.devices == ("all",)
    assert config.warmup == 10 and config.threads == 1  # from [tool.edgelab]
    assert config.report_dir == repo_root / "reports"


def _lab(tmp_path, body: str):
    (tmp_path / "pyproject.toml").write_text(body)
    return build_config(argparse.Namespace(), tmp_path)


@pytest.mark.parametrize("body, message", [
    ("iterations = 0", r"\[tool.edgelab\] iterations = 0: must be an integer >= 1$"),
    ("warmup = -5", r"\[tool.edgelab\] warmup = -5: must be an integer >= 0$"),
    ("threads = 0", r"\[tool.edgelab\] threads = 0: must be an integer >= 1$"),
    ('iterations = "abc"', r'\[tool.edgelab\] iterations = "abc": must be an integer >= 1$'),
    ("iterations = true", r"iterations = true: must be an integer >= 1$"),
    ('noise_cv = "high"', r'\[tool.edgelab\] noise_cv = "high": must be a number >= 0'),
    ("timeout_s = -1", r"timeout_s = -1: must be a number of seconds >= 0$"),
    ("models = []", r"models = \[\]: must be a non-empty list of model names"),
    ("variants = [1, 2]", r"variants = \[1, 2\]: must be a non-empty list of variant names"),
    ("report_dir = 5", r"report_dir = 5: must be a directory path"),
    ("colour = 1", r"\[tool.edgelab\]: unknown key\(s\) \['colour'\]; valid: \['cooldown', "
                   r"'cooldown_max_c', 'cooldown_status_max', 'cooldown_timeout_s', 'devices', 'engines', "
                   r"'fidelity', 'gate', 'governors', .*'iterations', 'lease_wait_s', 'manifest', 'min_time_s', "
                   r"'models', 'noise_cv'"),
    ('governors = ["performance", "power save"]',
     r'governors = \["performance", "power save"\]: must be a non-empty list of governor names'),
    ("governors = [1]", r"governors = \[1\]: must be a non-empty list of governor names"),
    ('[tool.edgelab.fidelity]\nmin_iou = "half"',
     r'\[tool.edgelab.fidelity\] min_iou = "half": must be a number >= 0$'),
])
def test_pyproject_values_are_checked_like_options(tmp_path, body, message):
    if not body.startswith("["):
        body = "[tool.edgelab]\n" + body
    with pytest.raises(UsageError, match=r"^pyproject.toml |/pyproject.toml ") as info:
        _lab(tmp_path, body + "\n")
    assert re.search(message, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)


def test_broken_pyproject_is_an_error_not_silently_defaults(tmp_path):
    with pytest.raises(UsageError, match=r"pyproject.toml is not valid TOML \(.*line 1"):
        _lab(tmp_path, "[tool.edgelab\niterations = 3\n")


def test_pyproject_lists_take_an_array_or_a_comma_separated_string(tmp_path):
    config = _lab(tmp_path, '[tool.edgelab]\nmodels = "ppocr_cls"\nengines = "onnxruntime, tflite"\n'
                            'variants = ["fp32", "int8", "fp32"]\ndevices = "all"\niterations = "7"\n')
    assert config.models == ("ppocr_cls",)  # not the model 'p', 'p', 'o', ...
    assert config.engines == ("onnxruntime", "tflite")
    assert config.variants == ("fp32", "int8") and config.devices == ("all",)
    assert config.iterations == 7
    assert _lab(tmp_path, "[tool.edgelab]\nengines = []\n").engines == ()  # empty: every engine


def test_repeated_names_are_measured_once_in_the_order_given():
    """--engine=onnxruntime,onnxruntime used to make two cells (ids ...onnxruntime0/1)."""
    assert parse_csv("onnxruntime,tflite,onnxruntime") == ("onnxruntime", "tflite")
    opts = argparse.Namespace(edgelab_engine=parse_csv("onnxruntime,onnxruntime"),
                              edgelab_variant=parse_csv("fp32,int8,fp32"),
                              edgelab_device=parse_csv("host,host"),
                              edgelab_model=parse_csv("ppocr_cls, ppocr_cls"))
    config = build_config(opts, REPO)
    assert (config.engines, config.variants) == (("onnxruntime",), ("fp32", "int8"))
    assert (config.devices, config.models) == (("host",), ("ppocr_cls",))


def test_input_shape_option_format():
    assert parse_input_shapes("x=1x3x48x192, y = 1X10") == (("x", (1, 3, 48, 192)), ("y", (1, 10)))
    assert parse_input_shapes("a=b=2") == (("a=b", (2,)),)  # names may hold '='
    for bad in ("x", "x=", "=1x3", "x=1x0", "x=1x3xH", "x=1,y", "x=1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not NAME=DIMS, DIMS positive "
                                                             "integers joined by x"):
            parse_input_shapes(bad)
    assert merge_input_shapes([(("x", (1, 2)),), (("x", (1, 2)), ("y", (3,)))]) == \
        (("x", (1, 2)), ("y", (3,)))
    with pytest.raises(UsageError, match="--input-shape x: given twice, as 1x2 and 1x3"):
        merge_input_shapes([(("x", (1, 2)),), (("x", (1, 3)),)])


def test_dynamic_dims_take_the_given_shape_else_a_said_guess():
    dynamic = [TensorSpec("x", (None, 3, "h", -1), "float32"), TensorSpec("len", (1,), "int64")]
    guessed = guessed_dims(dynamic, InputSpec())
    assert guessed == {"x": [1, 3, 224, 224]}  # fixed inputs are no guess
    assert "x=1x3x224x224" in guess_warning(guessed) and "--input-shape" in guess_warning(guessed)
    given = InputSpec(shapes=(("x", (1, 3, 48, 192)),))
    assert guessed_dims(dynamic, given) == {}
    feed, _ = make_feed(dynamic, given)
    assert feed["x"].shape == (1, 3, 48, 192) and feed["len"].shape == (1,)
    misfit = re.escape("input x: shape 1x4x48x192 does not fit the model's ?x3x?x?")
    with pytest.raises(ValueError, match=misfit):
        concrete_shape(dynamic[0].shape, InputSpec(shapes=(("x", (1, 4, 48, 192)),)), "x")
    # INT8 calibration feeds the same shape the benchmarks feed
    (first,) = calibration_feeds(dynamic[:1], given, count=1)
    assert first["x"].shape == (1, 3, 48, 192)


def test_input_spec_survives_the_trip_to_the_child_process():
    spec = InputSpec(shape=(1, 8, 8, 3), layout="NHWC", shapes=(("in", (1, 8, 8, 3)),))
    assert InputSpec.from_dict(json.loads(json.dumps(dataclasses.asdict(spec)))) == spec


def test_local_model_file_resolves_like_pytest_and_prints_a_working_build_command(tmp_path):
    manifest = load_manifest(REPO / "models" / "manifest.toml")
    (tmp_path / "my model.onnx").write_bytes(b"x")
    spec = resolve_model(str(tmp_path / "my model.onnx"), manifest)
    assert spec.adhoc and spec.name == "my model"
    shaped = spec.with_input_shapes((("x", (1, 3, 48, 192)),))
    assert shlex.split(build_command(shaped, default_build_dir())) == [
        "python", "-m", "harness", "models", "build", "--model", str(tmp_path / "my model.onnx"),
        "--input-shape", "x=1x3x48x192"]
    assert build_command(manifest["ppocr_cls"], tmp_path / "b").endswith(
        f"--model ppocr_cls --build-dir {tmp_path / 'b'}")
    (tmp_path / "ppocr_cls.onnx").write_bytes(b"x")
    with pytest.raises(UsageError, match="its name 'ppocr_cls' is a model of the manifest"):
        resolve_model(str(tmp_path / "ppocr_cls.onnx"), manifest)
    with pytest.raises(UsageError, match="--model: unknown model 'resnet'; valid: ppocr_cls"):
        resolve_model("resnet", manifest)


def test_repo_manifest_loads_with_real_sources(repo_root):
    models = load_manifest(repo_root / "models" / "manifest.toml")
    assert {"ppocr_cls", "face_landmark"} <= set(models)
    for spec in models.values():
        assert len(spec.sha256) == 64 and "==" in spec.package


@pytest.mark.parametrize("body, message", [
    ('[m]\nformat = "onnx"\npackage = "p==1"\nmember = "x"\nsha256 = "0"\ncolour = "red"\n',
     r"\[m\]: unknown key\(s\) \['colour'\]"),
    ('[m]\nformat = "caffe"\npath = "x"\n', r"\[m\]: format 'caffe'"),
    ('[m]\nformat = "onnx"\n', r"\[m\]: give either package"),
    ('[m]\nformat = "onnx"\npath = "x.onnx"\n[m.input]\nlayout = "CHW"\n', "layout 'CHW'"),
    ('[m\nformat = "onnx"\n', "not valid TOML"),
])
def test_bad_manifest_entries_name_the_entry(tmp_path, body, message):
    path = tmp_path / "manifest.toml"
    path.write_text(body)
    with pytest.raises(UsageError, match=message):
        load_manifest(path)


def test_adhoc_model_paths(tmp_path):
    with pytest.raises(UsageError, match="unknown model file type"):
        adhoc_model(str(tmp_path / "model.pt"))
    with pytest.raises(UsageError, match="no such file"):
        adhoc_model(str(tmp_path / "model.onnx"))
    (tmp_path / "m.tflite").write_bytes(b"x")
    spec = adhoc_model(str(tmp_path / "m.tflite"))
    assert spec.format == "tflite" and spec.input.layout == "NHWC"


def test_repeats_option_and_lab_keys(tmp_path):
    """--repeats K (issue 18 item 1): one count for every device kind; [tool.edgelab] repeats,
    and repeats_phone as the phones' own default; both checked like the option."""
    assert build_config(argparse.Namespace(), tmp_path).repeats_for("host") == 1
    lab = _lab(tmp_path, "[tool.edgelab]\nrepeats = 2\nrepeats_phone = 5\n")
    assert (lab.repeats_for("host"), lab.repeats_for("android"),
            lab.repeats_for("virtual-android")) == (2, 5, 5)
    given = build_config(argparse.Namespace(edgelab_repeats=3), tmp_path)
    assert (given.repeats_for("host"), given.repeats_for("android")) == (3, 3)
    assert _lab(tmp_path, "[tool.edgelab]\nrepeats = 4\n").repeats_for("android") == 4
    for body, allowed in (("repeats = 0", "an integer >= 1 (independent runs of each cell)"),
                          ("repeats_phone = true", "an integer >= 1 (repeats on phones")):
        with pytest.raises(UsageError, match=re.escape(f"{body}: must be {allowed}")):
            _lab(tmp_path, "[tool.edgelab]\n" + body + "\n")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_positive_int("0")


def test_repeats_option_is_in_the_edgelab_group():
    import harness.plugin as plugin

    seen = {}

    class Group:
        def addoption(self, *names, **kwargs):
            seen[names[0]] = kwargs

    class Parser:
        def getgroup(self, *args, **kwargs):
            return Group()

        def addini(self, *args, **kwargs):
            pass

    plugin.pytest_addoption(Parser())
    option = seen["--repeats"]
    assert option["dest"] == "edgelab_repeats" and option["type"] is parse_positive_int
    assert option["default"] is None and "K independent runs" in option["help"]


def test_reboot_wait_option_and_lab_key(tmp_path):
    """--reboot-wait (issue 20): how long a phone that dropped off may take to be listed again;
    120 s by default, [tool.edgelab] reboot_wait_s, the option wins; checked like the option."""
    assert build_config(argparse.Namespace(), tmp_path).reboot_wait_s == 120.0
    assert _lab(tmp_path, "[tool.edgelab]\nreboot_wait_s = 45\n").reboot_wait_s == 45.0
    given = build_config(argparse.Namespace(edgelab_reboot_wait=3.0), tmp_path)
    assert given.reboot_wait_s == 3.0
    with pytest.raises(UsageError, match=re.escape("reboot_wait_s = -1: must be a number of "
                                                   "seconds >= 0")):
        _lab(tmp_path, "[tool.edgelab]\nreboot_wait_s = -1\n")
