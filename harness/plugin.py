"""edgelab's pytest plugin: options, parametrization, the ``bench`` fixture, session finish.

Only wiring lives here; the work is in ``session``, ``measure`` and ``report``.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from . import config as cfg
from .errors import HarnessError

SESSION_KEY = pytest.StashKey["object"]()
TERM_KEY = pytest.StashKey["object"]()    # run/signals.py: SIGTERM ends the run as Ctrl-C does
ENDING_KEY = pytest.StashKey["object"]()  # run/finish.py: how the run ended (terminal, exit)
STF_KEY = pytest.StashKey["object"]()     # devices/stf.py: reservations released at unconfigure
_FRONT_DOOR = ("edgelab_device", "edgelab_engine", "edgelab_model", "edgelab_variant",
               "edgelab_governor")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edgelab", "edgelab device benchmarking")
    add = group.addoption
    add("--device", dest="edgelab_device", type=cfg.parse_csv, default=None, metavar="IDS",
        help="devices to measure: host (default), all, or comma-separated ids from "
             "`python -m harness devices`")
    add("--engine", dest="edgelab_engine", type=cfg.parse_csv, default=None, metavar="NAMES",
        help="engines, comma-separated (default: every registered engine)")
    add("--model", dest="edgelab_model", type=cfg.parse_csv, default=None, metavar="NAMES",
        help="models from models/manifest.toml or paths to .onnx/.tflite files "
             "(default: [tool.edgelab] models)")
    add("--variant", dest="edgelab_variant", type=cfg.parse_csv, default=None, metavar="NAMES",
        help="model variants: fp32, fp16, int8, int8-dynamic, int8-weight (default: "
             "[tool.edgelab] variants, all five; build them with `python -m harness models build`)")
    add("--governor", dest="edgelab_governor", type=cfg.parse_governors, default=None,
        metavar="NAMES",
        help="governor axis, comma-separated: default (leave as found; the default), "
             "performance, powersave, schedutil, ... (checked against each device's "
             "scaling_available_governors; needs root on phones, writable cpufreq on the host) "
             "or fixed-performance (Android 11+, no root); test ids gain the name, every "
             "change is journaled and restored (python -m harness devices --restore)")
    add("--ios-compute-units", dest="edgelab_ios_compute_units",
        type=cfg.parse_ios_compute_units, default=None, metavar="NAMES",
        help="Core ML compute units on iPhones, comma-separated, an axis of iPhone Core ML "
             "cells only: cpuOnly, cpuAndGPU, all (default), cpuAndNeuralEngine (iOS 16+); "
             "with more than one, those cells' test ids gain the name")
    add("--cooldown", dest="edgelab_cooldown", type=cfg.parse_cooldown, default=None,
        metavar="SPEC",
        help="before each latency cell wait until the device is cool (polled once a second, at "
             "the governor the cell runs under): auto (default: the device profile's limits, "
             "battery <= 34 degC and thermal status 0 on phones; the hottest thermal zone <= "
             "60 degC on a host that has readable zones), off, or MAX_C[,status=N]"
             "[,timeout=SECONDS] (default timeout 120 s, never more than --edgelab-timeout); a "
             "cell still hot at the timeout is measured anyway and marked hot_start")
    add("--input-shape", dest="edgelab_input_shape", type=cfg.parse_input_shapes, action="append",
        default=None, metavar="NAME=DIMS",
        help="shape of a model input with dynamic dims, e.g. x=1x3x48x192 (repeatable or "
             "comma-separated); without it such dims are guessed (1x3x224x224) and the report "
             "says so")
    add("--warmup", dest="edgelab_warmup", type=cfg.parse_non_negative_int, default=None,
        metavar="N", help="untimed iterations before timing (default 10)")
    add("--iterations", dest="edgelab_iterations", type=cfg.parse_positive_int, default=None,
        metavar="N", help="timed iterations, at least (default 50)")
    add("--repeats", dest="edgelab_repeats", type=cfg.parse_positive_int, default=None,
        metavar="K", help="measure each latency cell in K independent runs (host: K child "
                          "processes; phones: K tool runs), one record each, pooled by the "
                          "report and ranked by the gate (default 1; [tool.edgelab] repeats, "
                          "repeats_phone)")
    add("--min-time", dest="edgelab_min_time", type=cfg.parse_seconds, default=None,
        metavar="SECONDS", help="keep iterating until this much time was timed (default 0)")
    add("--threads", dest="edgelab_threads", type=cfg.parse_positive_int, default=None,
        metavar="N", help="engine threads (default 1: on shared hosts more threads measure the "
                          "neighbours, see docs/foundation.md)")
    add("--report-dir", dest="edgelab_report_dir", default=None, metavar="DIR",
        help="where runs are written: DIR/<run-id>/ and DIR/latest (default reports)")
    add("--baseline", dest="edgelab_baseline", default=None, metavar="NAME|RUN_DIR",
        help="compare this run with a saved baseline (reports/baselines/NAME) or an earlier run "
             "directory (reports/<run-id>): verdicts per cell in the terminal and the report; "
             "with --gate a regression fails the run")
    add("--gate", dest="edgelab_gate", **cfg.GATE_OPTION)
    add("--edgelab-history", dest="edgelab_history", type=cfg.parse_history, default=None,
        metavar="PATH|off", help="run-history database every finished run is added to, for "
                                 "trends and step detection (default REPORT_DIR/history.sqlite;"
                                 " [tool.edgelab] history; off: none)")
    add("--save-baseline", dest="edgelab_save_baseline", type=cfg.parse_baseline_name,
        default=None, metavar="NAME",
        help="when the run ends without regressions, interruption or usage errors, copy it to "
             "reports/baselines/NAME (replacing an older one) for --baseline NAME")
    add("--adb-server", dest="edgelab_adb_server", type=cfg.parse_host_port, action="append",
        default=None, metavar="HOST:PORT",
        help="adb server to ask for phones, repeatable: one per lab host (then device ids are "
             "HOST:PORT/SERIAL; default: ANDROID_ADB_SERVER_HOST/PORT, else 127.0.0.1:5037)")
    add("--stf-url", dest="edgelab_stf_url", default=None, metavar="URL",
        help="reserve phones from this STF (DeviceFarmer) for the run and release them at its "
             "end; the access token comes from $EDGELAB_STF_TOKEN only (docs/farm.md)")
    add("--adb-connect", dest="edgelab_adb_connect", type=cfg.parse_csv, default=None,
        metavar="HOST:PORT,...", help="`adb connect` these (network or virtual devices) first")
    add("--edgelab-timeout", dest="edgelab_timeout", type=cfg.parse_seconds, default=None,
        metavar="SECONDS", help="kill one engine run after this long; also bounds every "
                                "device call, short ones to at most 10 s (default 600)")
    add("--edgelab-idle-window", dest="edgelab_idle_window", type=cfg.parse_seconds,
        default=None, metavar="SECONDS",
        help="the device at rest before each latency cell, subtracted from its power for "
             "energy per inference (default 1; 0: none; taken only where power is read: "
             "phones, hosts with RAPL; see docs/telemetry.md)")
    add("--lease-wait", dest="edgelab_lease_wait", type=cfg.parse_seconds, default=None,
        metavar="SECONDS",
        help="a phone another edgelab process holds (one process per phone on a host, lease "
             "files in $EDGELAB_LEASE_DIR): wait this long for it, then its cells are "
             "infra_error naming the holder (default 0; [tool.edgelab] lease_wait_s)")
    add("--reboot-wait", dest="edgelab_reboot_wait", type=cfg.parse_seconds, default=None,
        metavar="SECONDS",
        help="a phone that dropped off adb mid-run (rebooted, replugged) may take this long to "
             "be listed again before it is quarantined; only its own worker waits (default "
             "120; [tool.edgelab] reboot_wait_s)")
    add("--edgelab-manifest", dest="edgelab_manifest", default=None, metavar="PATH",
        help="model manifest (default models/manifest.toml)")
    add("--edgelab-cache", dest="edgelab_cache", default=None, metavar="DIR",
        help="model cache (default $EDGELAB_CACHE or ~/.cache/edgelab)")


def pytest_addhooks(pluginmanager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _wants_session(config: pytest.Config) -> bool:
    """Measure only when suites run: the harness's own tests must not discover devices."""
    if any(getattr(config.option, name, None) for name in _FRONT_DOOR):
        return True
    suites = (config.rootpath / "suites").resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == suites or suites in path.parents:
            return True
    return False


def _export_adb_options(config: pytest.Config) -> None:
    """The Android backend reads its server from the environment, which xdist workers inherit."""
    cfg.export_adb_environment(config.option.edgelab_adb_server, config.option.edgelab_adb_connect)


def _reserve_stf(config: pytest.Config) -> None:
    """``--stf-url``: reserve and remote-connect STF phones before discovery (controller only);
    their adb addresses join --adb-connect, STF serials in --device become those addresses."""
    import os

    from .devices.stf import Stf

    stf = Stf.from_environment(config.option.edgelab_stf_url)
    config.stash[STF_KEY] = stf
    wanted = tuple(config.option.edgelab_device or ("all",))
    addresses = stf.reserve(wanted)
    known = [a for a in os.environ.get("EDGELAB_ADB_CONNECT", "").split(",") if a]
    os.environ["EDGELAB_ADB_CONNECT"] = ",".join(dict.fromkeys(known + addresses))
    if config.option.edgelab_device:
        config.option.edgelab_device = tuple(stf.connected.get(d, d) for d in wanted)


def _build_session(config: pytest.Config):
    from .run.session import BenchSession

    _export_adb_options(config)
    try:
        if getattr(config.option, "edgelab_stf_url", None) and not hasattr(config, "workerinput"):
            _reserve_stf(config)
        run_config = cfg.build_config(config.option, config.rootpath)
        if hasattr(config, "workerinput"):
            data = config.workerinput.get("edgelab")
            if data is not None:
                return BenchSession.on_worker(run_config, data)
        return BenchSession.on_controller(run_config, log=_log(config), hook=config.hook,
                                          pytest_config=config)
    except HarnessError as exc:
        if STF_KEY in config.stash:  # refused before the run: give the STF phones back now
            config.stash[STF_KEY].release_all()
        raise pytest.UsageError(str(exc)) from None


def _log(config: pytest.Config):
    def write(message: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(message)
        else:
            print(message)
    return write


def get_session(config: pytest.Config):
    if SESSION_KEY not in config.stash:
        config.stash[SESSION_KEY] = _build_session(config)
    return config.stash[SESSION_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    """With -n, a run of suites distributes by device (run/workers.py). A wrapper, because
    xdist's own tryfirst implementation turns "no" into "load" and must see our choice."""
    if (config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput")
            and _wants_session(config)):
        from .run.workers import choose_distribution

        try:
            choose_distribution(config.option)
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    return (yield)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config):
    """``-n auto`` on suites: one worker per device, so discovery runs here, once."""
    import os

    if not _wants_session(config) or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # the harness's own tests, or a count the user set: xdist's default
    from .run.workers import workers_for

    return workers_for(get_session(config).devices)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): keep one device's tests on one worker")
    if getattr(config, "workerinput", {}).get("edgelab_loadgroup"):
        config.option.loadgroup = True  # read by xdist's worker when it names items (run/workers.py)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "edgelab-xdist")
    if _wants_session(config):
        from .run.signals import TermAsInterrupt

        config.stash[TERM_KEY] = term = TermAsInterrupt()
        term.install()
        get_session(config)
        from .run.progress import ProgressPlugin  # "still running X" lines for long cells

        config.pluginmanager.register(ProgressPlugin(config), "edgelab-progress")


def pytest_unconfigure(config: pytest.Config) -> None:
    if TERM_KEY in config.stash:
        config.stash[TERM_KEY].restore()
    if STF_KEY in config.stash:  # STF phones go back whatever happened to the run
        import sys

        for problem in config.stash[STF_KEY].release_all():
            print(f"edgelab: {problem}", file=sys.stderr)


def _planning_session(config: pytest.Config):
    """The controller's session while its cells are not yet planned, else None."""
    if SESSION_KEY not in config.stash or hasattr(config, "workerinput"):
        return None
    session = config.stash[SESSION_KEY]
    return session if session.planned is None else None


def pytest_collection_finish(session: pytest.Session) -> None:
    bench_session = _planning_session(session.config)
    if bench_session is not None:  # a plain run: the controller collected the cells itself
        # not the placeholder pytest collects (and skips) for an empty grid: no cells there
        bench_session.plan([item.nodeid for item in session.items
                            if _case_of(item) is not None])


class _XdistHooks:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        if SESSION_KEY in node.config.stash:
            node.workerinput["edgelab"] = node.config.stash[SESSION_KEY].to_workerinput()
        # a worker re-parses the command line, where the loadgroup edgelab chose is absent:
        # without this its items carry no "@group" and the controller spreads a phone's cells
        node.workerinput["edgelab_loadgroup"] = node.config.option.dist == "loadgroup"

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        # an xdist controller collects nothing: every worker sends the same ids, take the first
        bench_session = _planning_session(node.config)
        if bench_session is not None:
            case_ids = {case.id for case in bench_session.cases()}
            bench_session.plan([i for i in ids if _param_id(i) in case_ids])


    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched) -> None:
        """A worker died mid-cell: that cell's record, and its device left alone (crashes.py)."""
        # loadgroup (xdist's LoadScopeScheduling) puts the crashed cell back into the queue with
        # the rest of its group: it would crash the replacement worker too, and the next one
        for work_unit in getattr(sched, "workqueue", {}).values():
            if crashitem in work_unit:
                work_unit[crashitem] = True  # done: it has its record (below)
        if SESSION_KEY not in self.config.stash:
            return
        bench_session = self.config.stash[SESSION_KEY]
        case = {c.id: c for c in bench_session.cases()}.get(_param_id(crashitem))
        if case is not None:
            from .run.crashes import record_crash

            worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "?")
            record_crash(bench_session, crashitem, case, worker)


def _param_id(nodeid: str) -> str:
    """``suites/test_latency.py::test_latency[host-m-fp32-ort]@host`` -> ``host-m-fp32-ort``
    (``--dist loadgroup`` appends the group to the id, and records carry that id)."""
    return nodeid.rpartition("]")[0].partition("[")[2]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    if SESSION_KEY in config.stash and config.stash[SESSION_KEY].config.governors != ("default",):
        from .run.cases import group_by_device_and_governor

        # each phone's cells of one governor back to back across suite files: applied once
        items[:] = group_by_device_and_governor(items, _case_of)


def pytest_runtest_teardown(item: pytest.Item, nextitem) -> None:
    case = _case_of(item)
    if case is None or SESSION_KEY not in item.config.stash:
        return
    following = _case_of(nextitem) if nextitem is not None else None
    if following is None or following.device.id != case.device.id:
        _release_devices(item.config, case.device.id)  # its cells have ended: restore it now


def _case_of(item: pytest.Item):
    from .run.cases import BenchCase

    case = getattr(getattr(item, "callspec", None), "params", {}).get("bench_case")
    return case if isinstance(case, BenchCase) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_case" not in metafunc.fixturenames:
        return
    session = get_session(metafunc.config)
    params = [pytest.param(case, id=case.id, marks=pytest.mark.xdist_group(case.device.id))
              for case in session.cases()]
    metafunc.parametrize("bench_case", params)


@pytest.fixture
def bench(request: pytest.FixtureRequest, bench_case):
    """One device x model x variant x engine cell; ``bench.measure()`` records a measurement."""
    from .run.bench import Bench

    return Bench(get_session(request.config), bench_case, request.node.nodeid,
                 on_record=lambda record: _add_junit_properties(request.node, record))


def _add_junit_properties(node, record) -> None:
    """Measurement figures as <property> elements of the test in --junitxml output."""
    from .report.junit import junit_properties

    node.user_properties.extend(junit_properties(record))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if SESSION_KEY not in config.stash:
        return
    term = config.stash.get(TERM_KEY, None)
    if term is not None:
        term.finishing = True  # a SIGTERM from now on must not cut the report short
    _release_devices(config)  # governors back first, before a report that may take a while
    config.stash[SESSION_KEY].runner.fidelity.close()
    config.stash[SESSION_KEY].store.close()  # this process's columnar part, before the report
    if hasattr(config, "workerinput"):
        return
    from .run.finish import end_run
    from .run.signals import interrupted_by

    ending = end_run(config.stash[SESSION_KEY], exitstatus, interrupted_by(term, exitstatus))
    config.stash[ENDING_KEY] = ending
    session.exitstatus = ending.exitstatus  # pytest returns it: no report / nothing measured


def _release_devices(config: pytest.Config, device_id: str | None = None) -> None:
    bench_session = config.stash[SESSION_KEY]
    for problem in bench_session.runner.release(device_id):
        bench_session.notes.append(problem)  # the controller's notes reach the terminal
        if hasattr(config, "workerinput"):   # a worker's notes reach nothing: say it on stderr
            import sys

            print(f"edgelab: {problem}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if SESSION_KEY not in config.stash or hasattr(config, "workerinput"):
        return
    from .run.finish import ending_lines

    terminalreporter.section("edgelab")
    for line, bad in ending_lines(config.stash[SESSION_KEY], config.stash.get(ENDING_KEY, None)):
        terminalreporter.write_line(line, red=bad)
