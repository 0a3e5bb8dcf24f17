"""The executors, local and ray, behind one interface: stages in order, progress read from the commands' lines, one
JobFinished per job, a failing stage ends its job, stop() lets running commands stop cleanly and drops queued
jobs, cancel() stops one job gracefully or at once, the commands see the job's environment, the executor's
folder and this checkout. Ray: a job holds its CPUs (two 2-CPU jobs on 2 CPUs run one after the other), a
request no node can meet is refused, and without Ray installed ``--executor ray`` is one line."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentdirs.cli import main
from latentdirs.errors import UserError
from latentdirs.executors.base import Job, JobFinished, Progress, Resources, Stage, StageFinished, StageStarted
from latentdirs.executors.local import LocalExecutor

ROOT = Path(__file__).resolve().parents[1]
# a command that, like latentdirs' training loops, finishes cleanly on the first SIGINT (exit 130)
GRACEFUL = ("import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *a: (print('saved'), sys.exit(130)))\n"
            "print('started', flush=True)\n"
            "time.sleep(60)\n")
STUBBORN = ("import signal, time\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "print('started', flush=True)\n"
            "time.sleep(60)\n")


@pytest.fixture(params=["local", "ray"])
def make_executor(request, tmp_path):
    """``make_executor(workers)``: an executor of either kind whose commands start in ``tmp_path``."""
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
        from latentdirs.executors.ray_runs import RayExecutor

        return lambda workers: RayExecutor(workers, cwd=tmp_path)
    return lambda workers: LocalExecutor(workers, cwd=tmp_path)


def collect(executor, jobs: int, timeout: float = 120.0) -> list:
    events, finished = [], 0
    deadline = time.monotonic() + timeout
    while finished < jobs and time.monotonic() < deadline:
        for event in executor.wait(timeout=0.2):
            events.append(event)
            finished += isinstance(event, JobFinished)
    assert finished == jobs, events
    return events


def wait_for_line(log: Path, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not log.exists() or f"\n{text}\n" not in log.read_text():  # its output, not the command line
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.05)


def test_stages_progress_and_failure(make_executor, tmp_path):
    progress = "import sys; [print(f'work: {i}/3 [00:00<00:00, loss=0.{i}]', file=sys.stderr) for i in range(4)]"
    ok = Job("ok", (Stage("run", ("-c", progress)), Stage("evaluate", ("-c", "print('scored')"))),
             tmp_path / "ok.log")
    bad = Job("bad", (Stage("run", ("-c", "import sys; print('error: broken input'); sys.exit(2)")),
                      Stage("evaluate", ("-c", "print('never')"))), tmp_path / "bad.log")
    with make_executor(2) as executor:
        executor.submit(ok)
        executor.submit(bad)
        events = collect(executor, 2)
    mine = [e for e in events if e.job == "ok"]
    assert [type(e) for e in mine[:1]] == [StageStarted]
    assert [(e.done, e.line) for e in mine if isinstance(e, Progress)] == [
        (i, f"work: {i}/3 [00:00<00:00, loss=0.{i}]") for i in range(4)]
    finished = {(e.job, e.stage): e for e in events if isinstance(e, StageFinished)}
    assert finished["ok", "evaluate"].returncode == 0 and finished["ok", "run"].cpu_seconds > 0
    assert finished["bad", "run"].returncode == 2 and finished["bad", "run"].message == "error: broken input"
    assert ("bad", "evaluate") not in finished  # a failed stage ends its job
    done = {e.job: e for e in events if isinstance(e, JobFinished)}
    assert done["ok"].ok and not done["bad"].ok and not done["bad"].stopped
    log = (tmp_path / "ok.log").read_text()
    assert "work: 3/3" in log and "scored" in log and log.count("[exit 0]") == 2


def test_stop_interrupts_running_commands_and_drops_queued_jobs(make_executor, tmp_path):
    with make_executor(1) as executor:
        executor.submit(Job("long", (Stage("run", ("-c", GRACEFUL)),), tmp_path / "long.log"))
        executor.submit(Job("queued", (Stage("run", ("-c", "print('never')")),), tmp_path / "queued.log"))
        assert executor.free_slots() == -1  # one worker, two jobs
        wait_for_line(tmp_path / "long.log", "started")
        started = time.monotonic()
        executor.stop()
        events = collect(executor, 2)
        assert executor.free_slots() == 1
    assert time.monotonic() - started < 20
    done = {e.job: e for e in events if isinstance(e, JobFinished)}
    assert done["long"].stopped and done["queued"].stopped and not done["queued"].ok
    run = next(e for e in events if isinstance(e, StageFinished) and e.job == "long")
    assert run.returncode == 130 and "saved" in (tmp_path / "long.log").read_text()
    assert not (tmp_path / "queued.log").exists()  # never started


def test_cancel_stops_one_job_and_force_kills_it(make_executor, tmp_path):
    """A graceful cancel is a SIGINT (a command that ignores it keeps running); force kills it; the other job
    is not touched."""
    other = "import time\nfor i in range(30):\n    time.sleep(0.1)\nprint('finished')\n"
    with make_executor(2) as executor:
        executor.submit(Job("stubborn", (Stage("run", ("-c", STUBBORN)), Stage("evaluate", ("-c", "print(1)"))),
                            tmp_path / "stubborn.log"))
        wait_for_line(tmp_path / "stubborn.log", "started")
        executor.submit(Job("other", (Stage("run", ("-c", other)),), tmp_path / "other.log"))
        assert executor.cancel("stubborn") and not executor.cancel("nobody")
        time.sleep(1.5)
        assert not any(isinstance(e, JobFinished) and e.job == "stubborn" for e in executor.wait(timeout=0))
        assert executor.cancel("stubborn", force=True)
        events = collect(executor, 2)
    done = {e.job: e for e in events if isinstance(e, JobFinished)}
    assert done["stubborn"].stopped and not done["stubborn"].ok
    assert done["other"].ok and not done["other"].stopped and "finished" in (tmp_path / "other.log").read_text()
    killed = next(e for e in events if isinstance(e, StageFinished) and e.job == "stubborn")
    assert killed.returncode == -9 and killed.stage == "run"  # SIGKILL; its evaluate never ran


def test_commands_see_the_jobs_environment_the_folder_and_this_checkout(make_executor, tmp_path):
    show = ("import json, os, latentdirs\n"
            "print(json.dumps({'cwd': os.getcwd(), 'x': os.environ.get('LATENTDIRS_TEST_X'), "
            "'package': latentdirs.__file__}))\n")
    with make_executor(1) as executor:
        executor.submit(Job("env", (Stage("run", ("-c", show)),), tmp_path / "env.log", {"LATENTDIRS_TEST_X": "42"}))
        collect(executor, 1)
    seen = json.loads(next(line for line in (tmp_path / "env.log").read_text().splitlines() if line.startswith("{")))
    assert seen == {"cwd": str(tmp_path), "x": "42", "package": str(ROOT / "latentdirs" / "__init__.py")}


def test_ray_jobs_hold_their_cpus_and_impossible_requests_are_refused(ray_instance, tmp_path):
    from latentdirs.executors.ray_runs import RayExecutor

    stamp = "import time\nprint('start', time.time(), flush=True)\ntime.sleep(2)\nprint('end', time.time())\n"
    with RayExecutor(2, cwd=tmp_path) as executor:
        assert executor.workers == 2
        with pytest.raises(UserError, match="no node of the Ray cluster has 3 CPUs and 0 GPUs"):
            executor.check(Resources(cpus=3))
        with pytest.raises(UserError, match="has 1 CPUs and 1 GPUs"):
            executor.check(Resources(gpus=1))
        executor.check(Resources(cpus=2))
        for name in ("a", "b"):
            executor.submit(Job(name, (Stage("run", ("-c", stamp)),), tmp_path / f"{name}.log",
                                resources=Resources(cpus=2)))
        collect(executor, 2)
    spans = []
    for name in ("a", "b"):
        times = {line.split()[0]: float(line.split()[1]) for line in (tmp_path / f"{name}.log").read_text().splitlines()
                 if line.startswith(("start ", "end "))}
        spans.append((times["start"], times["end"]))
    first, second = sorted(spans)
    assert second[0] >= first[1]  # 2 + 2 CPUs on a 2-CPU instance: one after the other


def test_ray_job_whose_worker_dies_fails_with_one_line_and_the_others_go_on(ray_instance, tmp_path):
    """The process of a job's actor killed (a lost node, an out-of-memory kill): its stage ends with one
    ``lost the run`` line, its command ends with it, and the executor keeps running other jobs."""
    import os
    import signal

    from latentdirs.executors.ray_runs import RayExecutor

    parent = "import os, time\nprint('parent', os.getppid(), 'me', os.getpid(), flush=True)\ntime.sleep(60)\n"
    with RayExecutor(2, cwd=tmp_path) as executor:
        executor.submit(Job("lost", (Stage("run", ("-c", parent)),), tmp_path / "lost.log"))
        deadline = time.monotonic() + 120
        while "parent " not in ((tmp_path / "lost.log").read_text() if (tmp_path / "lost.log").exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        line = next(x for x in (tmp_path / "lost.log").read_text().splitlines() if x.startswith("parent "))
        worker, command = int(line.split()[1]), int(line.split()[3])
        os.kill(worker, signal.SIGKILL)
        events = collect(executor, 1)
        executor.submit(Job("after", (Stage("run", ("-c", "print('fine')")),), tmp_path / "after.log"))
        events += collect(executor, 1)
    lost = next(e for e in events if isinstance(e, StageFinished) and e.job == "lost")
    assert lost.returncode == 1 and lost.message.startswith("error: lost the run: "), lost
    assert "\n" not in lost.message and lost.message in (tmp_path / "lost.log").read_text()
    done = {e.job: e for e in events if isinstance(e, JobFinished)}
    assert not done["lost"].ok and done["after"].ok
    deadline = time.monotonic() + 30
    while Path(f"/proc/{command}").exists() and time.monotonic() < deadline:  # Ray ends the worker's children
        time.sleep(0.1)
    assert not Path(f"/proc/{command}").exists()


@pytest.mark.parametrize("command", [["study", "run", "{spec}", "--out", "{out}", "--executor", "ray"],
                                     ["serve", "--data", "{out}", "--executor", "ray", "--address", "auto"]])
def test_executor_ray_without_ray_is_one_line(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"command": "train-vae", "settings": {"a": {}}, "seeds": 1, "baseline": "a"}))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([arg.format(spec=spec, out=out) for arg in command])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: --executor ray needs Ray: pip install 'latentdirs[ray]'\n"
    assert not out.exists()


def test_unreachable_ray_cluster_is_one_line_at_once_and_writes_nothing(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'latentdirs[ray]'")
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"command": "train-vae", "settings": {"a": {}}, "seeds": 1, "baseline": "a"}))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "latentdirs", "study", "run", str(spec), "--out",
                           str(tmp_path / "out"), "--executor", "ray", "--address", f"127.0.0.1:{port}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and time.monotonic() - started < 60  # Ray alone retries for minutes
    assert done.stderr == f"error: could not connect to Ray at 127.0.0.1:{port}: Connection refused\n"
    assert not (tmp_path / "out").exists()


def test_address_without_executor_ray_and_bad_addresses_are_one_line(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"command": "train-vae", "settings": {"a": {}}, "seeds": 1, "baseline": "a"}))
    for extra, expect in ((["--address", "auto"], "error: --address is for --executor ray"),
                          (["--executor", "ray", "--address", "ray://"], "bad Ray address 'ray://'"),
                          (["--executor", "ray", "--address", "head:99999"], "port: 99999 is not in [1, 65535]"),
                          (["--executor", "slurm"], "'slurm' is not one of 'local', 'ray'")):
        with pytest.raises(SystemExit) as exit_:
            main(["study", "run", str(spec), "--out", str(tmp_path / "out"), *extra])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ") and expect in err, err
    assert not (tmp_path / "out").exists()
