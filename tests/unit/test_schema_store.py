import json
import os

import pytest

from harness.results.schema import SCHEMA_VERSION, Measurement, SchemaError
from harness.results.store import RunStore, read_records

IDENT = dict(device={"id": "host"}, model={"name": "m"}, variant={"id": "fp32"},
             engine={"name": "onnxruntime"})


def ok_record(**kw):
    base = dict(run_id="r1", test_id="t1", suite="latency", status="ok",
                latency={"n": 1, "median_ms": 1.0}, samples_ms=[1.0], **IDENT)
    base.update(kw)
    return Measurement(**base)


def test_round_trip_through_dict():
    record = ok_record()
    again = Measurement.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert again.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("kw, message", [
    ({"status": "great"}, "not one of"),
    ({"status": "failed", "latency": None}, "needs a reason"),
    ({"latency": None}, "needs a latency summary"),
    ({"device": {}}, "neither 'id' nor 'name'"),
])
def test_invalid_records_are_refused(kw, message):
    with pytest.raises(SchemaError, match=message):
        ok_record(**kw)


def test_newer_schema_is_refused_with_a_fix():
    data = ok_record().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError, match="upgrade edgelab"):
        Measurement.from_dict(data)


def test_store_appends_and_survives_a_torn_last_line(tmp_path):
    store = RunStore(tmp_path / "run").create()
    store.append(ok_record(test_id="a"))
    store.append(ok_record(test_id="b", status="unsupported", reason="no", latency=None))
    with open(store.results_path, "a") as fh:  # a crash in the middle of a write
        fh.write('{"run_id": "r1", "test_')
    records, torn = read_records(store.results_path)
    assert [r.test_id for r in records] == ["a", "b"] and torn == 1  # counted, to be reported


def test_latest_points_at_the_newest_run(tmp_path):
    first = RunStore(tmp_path / "run-1").create()
    first.point_latest()
    second = RunStore(tmp_path / "run-2").create()
    second.point_latest()
    assert os.readlink(tmp_path / "latest") == "run-2"
    second.write_run_info({"run_id": "run-2"})
    assert second.read_run_info() == {"run_id": "run-2"}
