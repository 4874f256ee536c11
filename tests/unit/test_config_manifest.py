import argparse

import pytest

from harness.config import (build_config, parse_csv, parse_non_negative_int, parse_positive_int,
                            parse_seconds)
from harness.errors import UsageError
from harness.models.manifest import adhoc_model, load_manifest


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
