"""The local executor: stages in order, progress read from the commands' lines, one JobFinished per job, a
failing stage ends its job, stop() lets running commands stop cleanly and drops queued jobs, cancel() stops
one job, gracefully or at once."""

import time

from latentdirs.executors.base import Job, JobFinished, Progress, Stage, StageFinished, StageStarted
from latentdirs.executors.local import LocalExecutor


def collect(executor, jobs: int, timeout: float = 60.0) -> list:
    events, finished = [], 0
    deadline = time.monotonic() + timeout
    while finished < jobs and time.monotonic() < deadline:
        for event in executor.wait(timeout=0.2):
            events.append(event)
            finished += isinstance(event, JobFinished)
    assert finished == jobs, events
    return events


def test_stages_progress_and_failure(tmp_path):
    progress = "import sys; [print(f'work: {i}/3 [00:00<00:00]', file=sys.stderr) for i in range(4)]"
    ok = Job("ok", (Stage("run", ("-c", progress)), Stage("evaluate", ("-c", "print('scored')"))),
             tmp_path / "ok.log")
    bad = Job("bad", (Stage("run", ("-c", "import sys; print('error: broken input'); sys.exit(2)")),
                      Stage("evaluate", ("-c", "print('never')"))), tmp_path / "bad.log")
    with LocalExecutor(2) as executor:
        executor.submit(ok)
        executor.submit(bad)
        events = collect(executor, 2)
    mine = [e for e in events if e.job == "ok"]
    assert [type(e) for e in mine[:1]] == [StageStarted] and [e.done for e in mine if isinstance(e, Progress)] == [
        0, 1, 2, 3]
    finished = {(e.job, e.stage): e for e in events if isinstance(e, StageFinished)}
    assert finished["ok", "evaluate"].returncode == 0 and finished["ok", "run"].cpu_seconds > 0
    assert finished["bad", "run"].returncode == 2 and finished["bad", "run"].message == "error: broken input"
    assert ("bad", "evaluate") not in finished  # a failed stage ends its job
    done = {e.job: e for e in events if isinstance(e, JobFinished)}
    assert done["ok"].ok and not done["bad"].ok and not done["bad"].stopped
    log = (tmp_path / "ok.log").read_text()
    assert "work: 3/3" in log and "scored" in log and log.count("[exit 0]") == 2


def test_stop_interrupts_running_commands_and_drops_queued_jobs(tmp_path):
    # a command that, like latentdirs' training loops, finishes cleanly on the first SIGINT (exit 130)
    graceful = ("import signal, sys, time\n"
                "signal.signal(signal.SIGINT, lambda *a: (print('saved'), sys.exit(130)))\n"
                "print('started', flush=True)\n"
                "time.sleep(60)\n")
    with LocalExecutor(1) as executor:
        executor.submit(Job("long", (Stage("run", ("-c", graceful)),), tmp_path / "long.log"))
        executor.submit(Job("queued", (Stage("run", ("-c", "print('never')")),), tmp_path / "queued.log"))
        deadline = time.monotonic() + 30
        log = tmp_path / "long.log"
        while not log.exists() or "\nstarted\n" not in log.read_text():  # its output, not the command line
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        executor.stop()
        events = collect(executor, 2)
    assert time.monotonic() - started < 20
    done = {e.job: e for e in events if isinstance(e, JobFinished)}
    assert done["long"].stopped and done["queued"].stopped and not done["queued"].ok
    run = next(e for e in events if isinstance(e, StageFinished) and e.job == "long")
    assert run.returncode == 130 and "saved" in (tmp_path / "long.log").read_text()
    assert not (tmp_path / "queued.log").exists()  # never started
