"""Run hostile inputs against convolab and judge the outcome (issue 12, "Must show": the fuzz suite).

A case is one hostile input: a CLI invocation (``convolab ARGV``) or an API call (a Python snippet).
Each runs in its own temporary folder (``root/work`` is the cwd, ``root/home`` HOME and the cache,
``root/tmp`` TMPDIR) under a 1 GiB address-space limit (``RLIMIT_AS``), with no network and a 10 s
time limit, and must end with:

- CLI: exit code 2, stderr exactly one line starting with ``error:``, no ``Traceback``;
- API: an exception that is a ``ValueError`` (``LimitError`` is one) with a one-line message, or, for
  the few cases that name one in ``Case.raises``, that exception instead (the API contract: a
  ``TypeError`` for an argument of the wrong type, an ``OSError`` subclass for a path that is missing
  or a folder, as Python's own functions raise);
- both: nothing written or changed anywhere under ``root`` (snapshotted before and after), in time.

Measured here (Intel Xeon, torch 2.13.0 CPU): ``import torch`` needs 597 MiB of address space and
``import convolab`` 801 MiB; both run under 1 GiB (768 MiB is too little for the CLI, which maps SciPy
too), so the issue's 1 GiB is the limit.

Cases run in a fork server (``server.py``: torch and convolab imported once, one fork per case; the
run commands' cases in a second one that has also imported the reports and matplotlib, as those
commands do first) so a case costs 0.05-0.3 s of CPU, not the 2-4 s of a fresh interpreter;
``FUZZ_FRESH=1`` runs each one as a fresh ``sys.executable -m convolab ARGV`` (or ``-c``) instead,
and a CI test checks on a sample that both ways give the same outcome.

The issue's "within 10 s" is measured as the case's **CPU time** (user + system of the child, from
``wait4``; ``RLIMIT_CPU`` stops it just past 10 s): on a shared 2-core machine the wall time of the
same case varies tenfold with the neighbours' load (3 s of CPU took 21 s at a load of 7), its CPU time
does not. A case that blocks without using CPU (a FIFO, a sleep, a server that starts) is killed once
it has run ``HANG_S`` wall seconds while its process group used under 5 % of a CPU (blocked, not
starved: a starved case still gets its share), or after ``MAX_WALL_S`` whatever it does. Each counts
as a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.server import stuck

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
AS_LIMIT = 1 << 30  # RLIMIT_AS of every case: 1 GiB (the limit; torch + convolab fit)
CPU_LIMIT_S = 10.0  # the "within 10 s": CPU seconds of the case's process
HANG_S = 20.0  # wall seconds after which a case that is not using the CPU (blocked) is killed
MAX_WALL_S = 300.0  # wall seconds after which any case is killed
PARALLEL = 2
AREAS = ("core/spec+analysis", "training", "cli/filters/data/keras", "lab")


@dataclass(frozen=True)
class Case:
    """One hostile input. ``setup`` names builders of ``files.py`` that fill the case's cwd first."""

    id: str
    category: str
    area: str  # who must make it pass: one of AREAS
    argv: tuple[str, ...] = ()
    code: str = ""
    setup: tuple[str, ...] = ()
    ci: bool = False  # in the default (CI) selection; every case runs with -m fuzz_full
    #: a valid input after all (e.g. a large analysis the closed-form walk does in bounds): it must
    #: succeed (exit 0 / no exception), in bounds, writing nothing but under these paths (of root)
    valid: tuple[str, ...] | None = None
    #: an API case whose contract is another exception than ``ValueError`` (``module.qualname`` of
    #: the expected classes, e.g. ``builtins.TypeError``): it must raise one of these (or a subclass)
    raises: tuple[str, ...] = ()
    #: what the one error line (or the exception's message) must say, e.g. the field it is about: a
    #: refusal that does not name what was wrong is "unclear" (issue 26: raw messages)
    says: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "api" if self.code else "cli"

    def show(self) -> str:
        return "convolab " + shlex.join(self.argv) if self.kind == "cli" else self.code


def cli(
    id: str, category: str, area: str, args: str, *setup: str, ci: bool = False, says: tuple[str, ...] = ()
) -> Case:
    assert area in AREAS, area
    return Case(id, category, area, argv=tuple(shlex.split(args)), setup=setup, ci=ci, says=says)


def api(
    id: str,
    category: str,
    area: str,
    code: str,
    *setup: str,
    ci: bool = False,
    raises: tuple[str, ...] = (),
    says: tuple[str, ...] = (),
) -> Case:
    assert area in AREAS, area
    return Case(id, category, area, code=code, setup=setup, ci=ci, raises=raises, says=says)


def right_exception(r: Result) -> bool:
    """An API case raised what its contract asks: a ``ValueError``, or one of ``case.raises``."""
    if not r.case.raises:
        return bool(r.api["value_error"])
    return any(name in r.api.get("mro", ()) for name in r.case.raises)


@dataclass
class Result:
    case: Case
    status: int  # exit code, or -signal
    seconds: float
    maxrss_kib: int
    timed_out: bool
    stdout: str
    stderr: str
    api: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    cpu_s: float = 0.0  # user + system CPU seconds of the case's process

    @property
    def hung(self) -> bool:
        return self.timed_out or self.cpu_s > CPU_LIMIT_S

    @property
    def stderr_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def last_line(self) -> str:
        if self.case.kind == "api" and self.api.get("raised"):
            msg = self.api["message"].strip().splitlines()
            return f"{self.api['type']}: {msg[0] if msg else ''}"[:300]
        lines = self.stderr_lines
        return lines[-1][:300] if lines else ""


# ---------------------------------------------------------------------------------------------------
# judging


OOM_MARKS = (
    "MemoryError",
    "can't allocate memory",
    "std::bad_alloc",
    "Cannot allocate memory",
    "OutOfMemory",
)
CRASH_SIGNALS = {signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS}


def problems(r: Result) -> list[str]:
    """Every way ``r`` breaks the contract (empty: a clean refusal)."""
    out = []
    if r.timed_out:
        out.append(f"did not finish within {r.seconds:.1f} s of wall time (killed)")
    elif r.cpu_s > CPU_LIMIT_S:
        out.append(f"used {r.cpu_s:.1f} s of CPU, limit {CPU_LIMIT_S:.0f} s")
    if r.case.valid is not None:
        return out + _valid_problems(r)
    if r.changes:
        out.append("wrote or changed: " + ", ".join(r.changes[:5]) + (" ..." if len(r.changes) > 5 else ""))
    if r.case.kind == "cli":
        lines = r.stderr_lines
        if r.status != 2:
            out.append(f"exit code {r.status}, expected 2")
        if "Traceback" in r.stderr:
            out.append("a traceback on stderr")
        if len(lines) != 1 or not lines[0].startswith("error:"):
            out.append(f"stderr has {len(lines)} lines, expected one 'error: ...' line")
    elif not r.hung:
        if r.status != 0 or not r.api:
            out.append(f"the case's process died (status {r.status})")
        elif not r.api.get("raised"):
            out.append("accepted: no exception")
        else:
            if not right_exception(r):
                want = " or ".join(n.rpartition(".")[2] for n in r.case.raises) or "a ValueError"
                out.append(f"raised {r.api['type']}, not {want}")
            msg = r.api["message"].strip()
            if not msg or "\n" in msg:
                out.append(f"message has {len(msg.splitlines())} lines, expected one")
    unsaid = unclear(r)
    if unsaid:
        out.append(f"the message does not say {', '.join(map(repr, unsaid))}")
    return out


def unclear(r: Result) -> list[str]:
    """What ``case.says`` the refusal's message must contain and it does not (a refusal only)."""
    if not r.case.says or r.hung:
        return []
    if r.case.kind == "cli":
        text = r.stderr
    else:
        text = r.api.get("message", "") if r.api.get("raised") else ""
    return [w for w in r.case.says if w not in text]


def _valid_problems(r: Result) -> list[str]:
    """A valid input: success, no traceback, changes only under ``case.valid``."""
    out = []
    allowed = r.case.valid or ()
    stray = [c for c in r.changes if not any(c[1:] == a or c[1:].startswith(a + "/") for a in allowed)]
    if stray:
        out.append("wrote or changed: " + ", ".join(stray[:5]))
    if "Traceback" in r.stderr:
        out.append("a traceback on stderr")
    if r.hung:
        return out
    if r.case.kind == "cli" and r.status != 0:
        out.append(f"a valid input refused: exit code {r.status}")
    if r.case.kind == "api" and (r.status != 0 or not r.api or r.api.get("raised")):
        out.append(f"a valid input refused: {r.api.get('type', 'the process died')}")
    return out


def outcome(r: Result) -> str:
    """One word for the count table: clean, hang, OOM, traceback, wrong exception, wrote files, ..."""
    if r.hung:
        return "hang"
    if not problems(r):
        return "clean" if r.case.valid is None else "valid, in bounds"
    text = r.stderr + json.dumps(r.api)
    if (r.status < 0 and -r.status in CRASH_SIGNALS) or any(m in text for m in OOM_MARKS):
        return "OOM"
    if r.case.kind == "cli" and "Traceback" in r.stderr:
        return "traceback"
    if r.case.kind == "api" and r.api.get("raised") and not right_exception(r):
        return "wrong exception"
    if r.changes:
        return "wrote files"
    if (r.case.kind == "cli" and r.status == 0) or (r.case.kind == "api" and not r.api.get("raised")):
        return "accepted"
    if unclear(r) and len(problems(r)) == 1:
        return "unclear message"
    return "not one line"


# ---------------------------------------------------------------------------------------------------
# snapshots


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: its type, size, mtime and (files up to 8 MiB) content hash."""
    snap: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            kind = (
                "link"
                if stat.S_ISLNK(st.st_mode)
                else "dir"
                if stat.S_ISDIR(st.st_mode)
                else "file"
                if stat.S_ISREG(st.st_mode)
                else "fifo"
                if stat.S_ISFIFO(st.st_mode)
                else "socket"
                if stat.S_ISSOCK(st.st_mode)
                else "special"
            )  # only regular files are read: a socket or FIFO left behind is a change
            digest = ""
            if kind == "file" and st.st_size <= 8 << 20:
                digest = hashlib.sha1(p.read_bytes()).hexdigest()
            elif kind == "link":
                digest = os.readlink(p)
            size = st.st_size if kind != "dir" else 0
            snap[str(p.relative_to(root))] = (kind, size, st.st_mtime_ns if kind == "file" else 0, digest)
    return snap


LOCK_FILE = ".lock"  # a run folder's lock (train/runfolder.py): flock'ed, its pid rewritten by each taker


def diff(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What changed. Taking a run's *existing* lock file is no change (that is how the lock works); a
    lock file created where there was none is one (a foreign folder claimed as a run)."""
    out = [f"+{p}" for p in sorted(after.keys() - before.keys())]
    out += [f"-{p}" for p in sorted(before.keys() - after.keys())]
    out += [
        f"~{p}"
        for p in sorted(before.keys() & after.keys())
        if before[p] != after[p] and Path(p).name != LOCK_FILE
    ]
    return out


# ---------------------------------------------------------------------------------------------------
# running


def base_env(mplconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVOLAB_", "PYTEST_", "COV_"))}
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", MPLCONFIGDIR=str(mplconfig))
    # the built native kernels live in one cache for the whole run, as a user's ~/.cache does (a case
    # that trains would otherwise build them, ~5 s of compiler CPU, and "write" its own cache folder);
    # run_cases builds them there before the first case (warm_native_cache)
    env["CONVOLAB_NATIVE_DIR"] = str(mplconfig.parent / "_native")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONFAULTHANDLER", None)
    return env


def case_env(root: Path) -> dict[str, str | None]:
    home = root / "home"
    return {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TMPDIR": str(root / "tmp"),
        "CONVOLAB_DATA": None,
    }


@dataclass
class Prepared:
    case: Case
    root: Path
    meta: Path
    before: dict[str, tuple]

    @property
    def cwd(self) -> Path:
        return self.root / "work"


def prepare(case: Case, base: Path, builders: dict[str, Callable[[Path], None]]) -> Prepared:
    root, meta = base / case.id / "root", base / case.id / "meta"
    for d in (root / "work", root / "home", root / "tmp", meta):
        d.mkdir(parents=True, exist_ok=True)
    for name in case.setup:
        builders[name](root / "work")
    return Prepared(case, root, meta, snapshot(root))


def _tail(path: Path) -> str:
    """The output, whole up to 1 MiB (an error line that echoes a 100k-character input stays one line)."""
    if not path.exists():
        return ""
    text = path.read_text(errors="replace")
    return text if len(text) <= 1 << 20 else text[: 1 << 19] + "\n[...]\n" + text[-(1 << 19) :]


def finish(p: Prepared, status: int, seconds: float, maxrss: int, timed_out: bool, cpu_s: float) -> Result:
    try:
        api = json.loads((p.meta / "result.json").read_text())
    except (OSError, ValueError):  # not written (the child died first) or cut short
        api = {}
    changes = diff(p.before, snapshot(p.root))
    out, err = _tail(p.meta / "stdout"), _tail(p.meta / "stderr")
    return Result(p.case, status, seconds, maxrss, timed_out, out, err, api, changes, cpu_s)


RUN_COMMANDS = ("train", "evaluate", "reconstruct", "compare", "figures")


def heavy(case: Case) -> bool:
    """A case of a command that imports the reports and matplotlib first (the "heavy" fork server)."""
    return case.argv[:1] != () and case.argv[0] in RUN_COMMANDS or "from convolab.train import" in case.code


def run_forked(prepared: list[Prepared], cpu_s: float, env: dict[str, str]) -> list[Result]:
    """The run commands' cases through the heavy fork server, the others through the light one."""
    results = {}
    for kind in ("light", "heavy"):
        batch = [p for p in prepared if heavy(p.case) == (kind == "heavy")]
        if batch:
            results.update({r.case.id: r for r in _run_server(batch, cpu_s, env, kind)})
    return [results[p.case.id] for p in prepared]


def _run_server(prepared: list[Prepared], cpu_s: float, env: dict[str, str], kind: str) -> list[Result]:
    """All cases through one fork server, ``PARALLEL`` at a time."""
    jobs = [
        {
            "id": p.case.id,
            "kind": p.case.kind,
            "argv": list(p.case.argv),
            "code": p.case.code,
            "cwd": str(p.cwd),
            "env": case_env(p.root),
            "out": str(p.meta),
            "timeout": MAX_WALL_S,
            "idle_s": HANG_S,
            "as_bytes": AS_LIMIT,
            "cpu_s": cpu_s,
        }
        for p in prepared
    ]
    proc = subprocess.run(
        [sys.executable, str(HERE / "server.py"), str(PARALLEL), kind],
        input="".join(json.dumps(j) + "\n" for j in jobs),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60 + len(jobs) * (MAX_WALL_S + 1) / PARALLEL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"fuzz server failed ({proc.returncode}): {proc.stderr[-3000:]}")
    by_id = {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    out = []
    for p in prepared:
        r = by_id[p.case.id]
        out.append(finish(p, r["status"], r["seconds"], r["maxrss_kib"], r["timed_out"], r["cpu_s"]))
    return out


API_RUNNER = HERE / "server.py"
FRESH_START_CPU_S = 8.0  # CPU seconds a fresh interpreter may spend importing torch, not counted


def _limiter(cpu_s: float) -> Callable[[], None]:
    def limit() -> None:
        import resource

        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_s) + 1, int(cpu_s) + 6))

    return limit


def run_fresh_one(p: Prepared, cpu_s: float, env: dict[str, str]) -> Result:
    """One case in a fresh interpreter: ``python -m convolab ARGV`` or ``python -c`` the API runner."""
    child_env = dict(env)
    for k, v in case_env(p.root).items():
        if v is None:
            child_env.pop(k, None)
        else:
            child_env[k] = v
    child_env["PYTHONPATH"] = os.pathsep.join([str(HERE / "nonet"), child_env["PYTHONPATH"]])
    if p.case.kind == "cli":
        cmd = [sys.executable, "-m", "convolab", *p.case.argv]
    else:
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); import server; "
            "from pathlib import Path; sys.exit(server._run_api(sys.argv[2], Path(sys.argv[3])))"
        )
        cmd = [sys.executable, "-c", code, str(HERE), p.case.code, str(p.meta)]
    job = {"timeout": MAX_WALL_S, "idle_s": HANG_S}
    with open(p.meta / "stdout", "wb") as so, open(p.meta / "stderr", "wb") as se:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=p.cwd,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=so,
            stderr=se,
            preexec_fn=_limiter(cpu_s),
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if not timed_out and stuck(proc.pid, time.monotonic() - t0, job):
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    seconds = round(time.monotonic() - t0, 3)
    cpu = round(max(0.0, usage.ru_utime + usage.ru_stime - FRESH_START_CPU_S), 3)
    return finish(p, proc.returncode, seconds, usage.ru_maxrss, timed_out, cpu)


def run_fresh(prepared: list[Prepared], cpu_s: float, env: dict[str, str]) -> list[Result]:
    results: list[Result | None] = [None] * len(prepared)
    todo = list(enumerate(prepared))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                i, p = todo.pop(0)
            results[i] = run_fresh_one(p, cpu_s, env)

    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def warm_native_cache(env: dict[str, str]) -> None:
    """Build the native kernels into the run's shared cache before any case runs, as a user's cache holds
    them after a first run: no case pays the compiler (~5 s of CPU, counted in its children's time)
    against its 10 s limit. A machine without a compiler builds nothing: the cases take the PyTorch path."""
    code = "from convolab.engine.native import build; build.library()"
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300, check=False)


def run_cases(
    cases: Iterable[Case], base: Path, builders: dict[str, Callable[[Path], None]], *, fresh: bool = False
) -> dict[str, Result]:
    base.mkdir(parents=True, exist_ok=True)
    mpl = base / "_mplconfig"
    mpl.mkdir(exist_ok=True)
    env = base_env(mpl)
    warm_native_cache(env)
    prepared = [prepare(c, base, builders) for c in cases]
    if fresh:  # the interpreter's start (import torch) on top: it is not the case's work
        results = run_fresh(prepared, CPU_LIMIT_S + FRESH_START_CPU_S, env)
    else:
        results = run_forked(prepared, CPU_LIMIT_S, env)
    return {r.case.id: r for r in results}
