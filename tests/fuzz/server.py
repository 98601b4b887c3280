"""The fuzz fork server: import convolab once, then fork one child per hostile case.

    python tests/fuzz/server.py PARALLEL [light|heavy] < jobs.jsonl > results.jsonl

A fresh ``python -m convolab`` spends 3-8 s of this machine's CPU importing torch; 300 of them would
take half an hour. The server imports what ``python -m convolab`` imports at start-up (the light
``convolab.cli`` package), then torch and convolab's core (``PRELOAD``), which every model command
and API entry imports next, and forks. Each child: its own process group, ``RLIMIT_AS`` set, no network (see
``nonet/sitecustomize.py``), stdin from /dev/null, stdout/stderr to files, the case's cwd, HOME and
cache, then either ``python -m convolab ARGV`` (``runpy`` of ``convolab.__main__``, exit codes and
uncaught exceptions handled as the interpreter does) or an API call (``exec`` of a snippet; the
exception's type, MRO and message are written as JSON). The parent kills the child's whole process
group when it hangs (``stuck``: blocked past ``idle_s``, or past ``timeout`` wall seconds) and reports
exit status, seconds, CPU seconds and peak RSS (``wait4``).

Job (one JSON line): ``{"id", "kind": "cli"|"api", "argv" | "code", "cwd", "env", "out", "timeout",
"idle_s", "as_bytes", "cpu_s"}``; result line: ``{"id", "status", "seconds", "maxrss_kib", "cpu_s",
"timed_out"}``
(``cpu_s``: the child's user + system CPU seconds; ``RLIMIT_CPU`` stops it one second past the limit).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDLE_SHARE = 0.05  # a case's process group using less of one CPU than this, past idle_s, is blocked
#: imported once here, after ``convolab.cli``: torch and the core every model command and API call loads
#: (``convolab.cli`` alone is light: without this each case spent 1.5-2 s of CPU importing torch). This
#: maps 640 MiB of address space, what a fresh ``python -m convolab summary`` has before it reads a spec;
#: heavier parts (training, SciPy, matplotlib) stay lazy, so no case sees less headroom than it would fresh.
PRELOAD = (
    "numpy",
    "torch",
    "convolab",
    "convolab.layers",
    "convolab.model.spec",
    "convolab.analysis.summary",
)
#: and for the run commands (train, evaluate, reconstruct, compare, figures), which import the reports
#: and matplotlib before they read their arguments' files (861 MiB mapped fresh, as here): 2.4 s of CPU
HEAVY = (*PRELOAD, "convolab.train.report", "matplotlib.pyplot")


def _child_env(job: dict) -> None:
    for key, value in job["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    import tempfile

    tempfile.tempdir = None  # TMPDIR may have changed


def _redirect(out: Path) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        f = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)


def _exit_code(code: object) -> int:
    """What the interpreter does with ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_cli(argv: list[str]) -> int:
    import runpy

    sys.argv = [str(Path(sys.modules["convolab"].__file__).parent / "__main__.py"), *argv]
    try:
        runpy.run_module("convolab", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - the interpreter's own behaviour: print it, exit 1
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def _run_api(code: str, out: Path) -> int:
    info: dict = {"raised": False}
    try:
        exec(compile(code, "<fuzz case>", "exec"), {"__name__": "__fuzz__"})
    except BaseException as exc:  # noqa: BLE001 - every exception is reported, none escapes
        info = {
            "raised": True,
            "type": type(exc).__name__,
            "mro": [c.__module__ + "." + c.__qualname__ for c in type(exc).__mro__],
            "value_error": isinstance(exc, ValueError),
            "message": str(exc)[:4000],
        }
        traceback.print_exc()
    (out / "result.json").write_text(json.dumps(info))
    return 0


def _child(job: dict) -> None:
    code = 70
    try:
        os.setpgid(0, 0)
        out = Path(job["out"])
        _redirect(out)
        limit = int(job["as_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = int(job["cpu_s"]) + 1  # SIGXCPU past the CPU limit: a busy loop ends even on an idle machine
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        _child_env(job)
        os.chdir(job["cwd"])
        if job["kind"] == "cli":
            code = _run_cli(job["argv"])
        else:
            code = _run_api(job["code"], Path(job["out"]))
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        try:  # as the interpreter does at exit (multiprocessing removes its temp folders here)
            import atexit

            atexit._run_exitfuncs()
        except BaseException:  # noqa: BLE001
            pass
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group ``pgid``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state ppid pgrp ... utime(12) stime(13)
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def stuck(pgid: int, elapsed: float, job: dict) -> bool:
    """A hang: past ``idle_s`` using under ``IDLE_SHARE`` of a CPU (blocked, not starved), or past
    ``timeout`` (wall seconds) whatever it does. A busy case ends at its CPU limit instead."""
    if elapsed > job["timeout"]:
        return True
    return elapsed > job["idle_s"] and group_cpu(pgid) < IDLE_SHARE * elapsed


def serve(parallel: int) -> None:
    real_out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing a job prints can reach the results stream
    jobs = [json.loads(line) for line in sys.stdin if line.strip()]
    running: dict[int, tuple[dict, float]] = {}
    while jobs or running:
        while jobs and len(running) < parallel:
            job = jobs.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (job, time.monotonic())
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for cpid, (job, t0) in list(running.items()):
                if now >= job.get("next_check", 0) and not job.get("killed"):
                    job["next_check"] = now + 0.5
                    if stuck(cpid, now - t0, job):
                        job["killed"] = True
                        try:
                            os.killpg(cpid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            time.sleep(0.01)
            continue
        job, t0 = running.pop(pid)
        try:  # grandchildren (torchrun workers) go with it
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        result = {
            "id": job["id"],
            "status": os.waitstatus_to_exitcode(status),
            "seconds": round(time.monotonic() - t0, 3),
            "maxrss_kib": usage.ru_maxrss,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "timed_out": bool(job.get("killed")),
        }
        real_out.write(json.dumps(result) + "\n")
        real_out.flush()


def main() -> None:
    import runpy

    runpy.run_path(str(HERE / "nonet" / "sitecustomize.py"))  # no network here and in every fork

    import convolab.cli  # noqa: F401 - what `python -m convolab` imports before it parses argv

    heavy = len(sys.argv) > 2 and sys.argv[2] == "heavy"
    for name in HEAVY if heavy else PRELOAD:  # what the cases import next: no fork imports torch again
        importlib.import_module(name)
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 2)


if __name__ == "__main__":
    main()
