#!/usr/bin/env python3
"""Runs one sqtail benchmark workload and prints its figures.

  scripts/bench/run.py W1 [--raw|--no-raw] [--scale F] [--seed N] [--keep] [--json]
  scripts/bench/run.py W1 --route files|files-nosync|both   (issue 4: category files, with or without SQLite)
  scripts/bench/run.py W4 --route errors       (errors to SQLite and error.jsonl: their latency)
  scripts/bench/run.py W4 [--seconds 60] [--flush-interval 1s]
  scripts/bench/run.py W5 [--seconds 60]

W1, W2, W3 (batch): `sqtail run --once` over the generated files; lines/s, MB/s,
CPU seconds (user+sys, from wait4 rusage), peak RSS (ru_maxrss), wall time; the
events row count must equal the lines generated.
W4 (live): sqtail runs while 40 files get 250 lines/s each; a read-only poller
(every 10 ms) measures append->commit latency; CPU % of one core and VmHWM.
--route: `files` sends every record to [sink.files.cat] ("{category}.jsonl") only
(`files-nosync`: with sync = false), `both`
to the files and SQLite, `errors` sends error/critical/fatal lines to SQLite and to
[sink.files.errors] ("{level}.jsonl") and the rest to SQLite; the output lines are counted
(each exactly once), the descriptors sqtail holds are sampled, and for `errors` the
latency of error rows is reported apart (their file is written before their commit).
W5 (quiet): sqtail on 1,000 files that stay quiet; CPU seconds per minute and
wake-ups (context switches) after the backfill settles.

Batch inputs are cached under scripts/bench/out/<W>-seed<N>-scale<F>/ (gitignored);
the database and logs go to a temp dir that is removed unless --keep.
See scripts/bench/README.md for the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (scripts/bench/gen.py)

CACHE = os.path.join(HERE, "out")
BUILD = os.path.join(ROOT, "build-release")
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.010
BUSY_COMMS = {"cc1plus", "cc1", "c++", "g++", "gcc", "clang", "clang++", "ld", "ld.bfd",
              "ld.gold", "ld.lld", "mold", "ninja", "meson", "make", "lto1", "as"}

TARGETS = {  # (workload, figure, raw or None for either) -> (comparison, value)
    ("W1", "lines_per_s", False): (">=", 400_000),
    ("W1", "lines_per_s", True): (">=", 250_000),
    ("W1", "peak_rss_mib", None): ("<=", 64),
    ("W3", "peak_rss_mib", None): ("<=", 64),
    ("W5", "cpu_s_per_min", None): ("<=", 0.1),
    ("W4", "cpu_pct_one_core", None): ("<=", 5.0),
}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def parse_duration_ms(text: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return int(float(text[: -len(suffix)]) * units[suffix])
    if text.isdigit():
        return int(text) * 1000
    raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 250ms, 1s)")


def git_commit() -> str:
    """HEAD commit read from .git (no git command), '' when unknown."""
    try:
        gitdir = os.path.join(ROOT, ".git")
        with open(os.path.join(gitdir, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        path = os.path.join(gitdir, ref)
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()[:12]
        with open(os.path.join(gitdir, "packed-refs")) as f:
            for line in f:
                if line.rstrip().endswith(" " + ref):
                    return line.split()[0][:12]
    except OSError:
        pass
    return ""


def busy_processes() -> Counter:
    """Compiler/build processes running right now (others sharing the machine)."""
    seen = Counter()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in BUSY_COMMS:
            seen[comm] += 1
    return seen


def proc_cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def proc_tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def proc_sched_ns(pid: int) -> int:
    """CPU time (ns) of all live threads, from /proc/PID/task/*/schedstat."""
    total = 0
    for tid in proc_tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_ctxt(pid: int) -> tuple[int, int]:
    """(voluntary, nonvoluntary) context switches summed over live threads."""
    vol = nonvol = 0
    for tid in proc_tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        nonvol += int(line.split()[1])
        except OSError:
            pass
    return vol, nonvol


def proc_status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def percentile(hist: Counter, p: float) -> int | None:
    """Nearest-rank percentile of a {value: count} histogram."""
    total = sum(hist.values())
    if not total:
        return None
    rank = max(1, int(-(-p * total // 100)))  # ceil(p/100 * total)
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


def open_ro(db: str) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0, isolation_level=None)
    con.execute("PRAGMA busy_timeout=5000")
    return con


def db_counts(db: str) -> dict:
    con = open_ro(db)
    try:
        out = {"events": con.execute("SELECT count(*) FROM events").fetchone()[0]}
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "rejects" in tables:
            out["rejects"] = con.execute("SELECT count(*) FROM rejects").fetchone()[0]
        if "files" in tables:
            out["files"] = con.execute("SELECT count(*) FROM files").fetchone()[0]
        out["null_ts"] = con.execute("SELECT count(*) FROM events WHERE ts IS NULL").fetchone()[0]
        # Exactly once: no (file, offset) twice, so that a loss cannot hide behind a duplicate.
        out["distinct"] = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT file_id, offset FROM events)").fetchone()[0]
        return out
    finally:
        con.close()


def db_size_mib(db: str) -> float:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.path.getsize(db + suffix)
        except OSError:
            pass
    return round(total / 2**20, 1)


def tail_file(path: str, n: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- build & inputs

def ensure_binary(a) -> str:
    if a.sqtail:
        if not os.access(a.sqtail, os.X_OK):
            raise BenchError(f"--sqtail {a.sqtail}: not an executable")
        return os.path.abspath(a.sqtail)
    # meson puts the executable where src/meson.build defines it: build-release/src/sqtail.
    candidates = [os.path.join(BUILD, "sqtail"), os.path.join(BUILD, "src", "sqtail")]
    found = [c for c in candidates if os.access(c, os.X_OK)]
    if found and not a.rebuild:
        return found[0]
    if not shutil.which("meson") or not shutil.which("ninja"):
        raise BenchError("meson and ninja are needed to build build-release/sqtail")
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        log("meson setup build-release --buildtype=release -Dtests=false")
        subprocess.run(["meson", "setup", "build-release", "--buildtype=release", "-Dtests=false"],
                       cwd=ROOT, check=True, stdout=sys.stderr)
    log("ninja -C build-release")
    r = subprocess.run(["ninja", "-C", "build-release"], cwd=ROOT, stdout=sys.stderr)
    found = [c for c in candidates if os.access(c, os.X_OK)]
    if r.returncode != 0 or not found:
        raise BenchError("building build-release/sqtail failed (see the output above)")
    return found[0]


def workload_dir(a) -> tuple[str, dict]:
    """Generates (or reuses from the cache) a batch/quiet workload; returns (dir, manifest)."""
    if getattr(a, "_workload", None):
        return a._workload
    scale = f"{a.scale:g}"
    d = os.path.join(CACHE, f"{a.workload}-seed{a.seed}-scale{scale}")
    mpath = os.path.join(d, "manifest.json")
    if os.path.exists(mpath) and not a.regen:
        with open(mpath) as f:
            m = json.load(f)
        if m.get("gen_version") == gen.GEN_VERSION:
            log(f"reusing {os.path.relpath(d, ROOT)} ({m['lines']:,} lines, {m['bytes'] / 1e6:,.0f} MB)")
            a._workload = (d, m)
            return d, m
    if os.path.exists(d):
        shutil.rmtree(d)
    log(f"generating {a.workload} into {os.path.relpath(d, ROOT)}")
    m = gen.generate_batch(a.workload, d + ".tmp", a.seed, a.scale, a.jobs)
    os.rename(d + ".tmp", d)
    a._workload = (d, m)
    return d, m


def warm_cache(d: str) -> None:
    """Reads the inputs once so every run starts with them in the page cache."""
    buf = bytearray(1 << 20)
    for root, _, names in os.walk(d):
        for n in names:
            with open(os.path.join(root, n), "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass


# ---------------------------------------------------------------- sqtail process

def route_config(route: str, out: str) -> str:
    if route == "errors":
        return (f'[sink.files.errors]\ndir = "{out}"\npath = "{{level}}.jsonl"\n'
                '[[route]]\nname = "errors"\nmatch = { level = ["error", "critical", "fatal"] }\n'
                'to = ["sqlite", "files:errors"]\n')
    to = '["files:cat"]' if route.startswith("files") else '["sqlite", "files:cat"]'
    sync = "sync = false\n" if route.endswith("nosync") else ""
    return (f'[sink.files.cat]\ndir = "{out}"\npath = "{{category}}.jsonl"\n{sync}'
            f'[[route]]\nname = "all"\nto = {to}\n')


def output_lines(out: str) -> tuple[int, int]:
    """(lines, files) under the file sinks' dir."""
    lines = files = 0
    for root, _, names in os.walk(out):
        for n in names:
            files += 1
            with open(os.path.join(root, n), "rb") as f:
                lines += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return lines, files


class FdSampler:
    """Samples how many descriptors a process holds, every 50 ms, in a thread: all of them,
    and those open on files under `under` (the file sinks' output directory)."""

    def __init__(self, pid: int, under: str | None = None):
        self.pid, self.peak, self.peak_under = pid, 0, 0
        self.under = os.path.join(os.path.realpath(under), "") if under else None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            n = proc_fd_count(self.pid)
            if n:
                self.peak = max(self.peak, n)
            if self.under:
                self.peak_under = max(self.peak_under, self._count_under())

    def _count_under(self) -> int:
        d = f"/proc/{self.pid}/fd"
        n = 0
        try:
            for fd in os.listdir(d):
                try:
                    n += os.readlink(os.path.join(d, fd)).startswith(self.under)
                except OSError:
                    pass
        except OSError:
            pass
        return n

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.peak


class Sqtail:
    def __init__(self, exe: str, db: str, pattern: str, a, once: bool, workdir: str):
        self.cmd = [exe, "run", "--db", db]
        if once:
            self.cmd.append("--once")
        else:
            self.cmd += ["--flush-interval", a.flush_interval]
        if not a.raw:
            self.cmd.append("--no-raw")
        if getattr(a, "route", None):
            conf = os.path.join(workdir, "route.toml")
            with open(conf, "w") as f:
                f.write(route_config(a.route, os.path.join(workdir, "out")))
            self.cmd += ["-c", conf]
        self.cmd.append(pattern)
        self.log_path = os.path.join(workdir, "sqtail.log")
        self.workdir = workdir
        self.proc = None
        self.rusage = None
        self.status = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, cwd=self.workdir, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        if self.status is not None:
            return False
        pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self._reaped(status, ru)
        return False

    def _reaped(self, status, ru) -> None:
        self.status = os.waitstatus_to_exitcode(status)
        self.rusage = ru
        self.proc.returncode = self.status  # reaped here, not by Popen
        self._log.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for exit (wait4, keeps the rusage); False on timeout."""
        if self.status is not None:
            return True
        if timeout is None:
            _, status, ru = os.wait4(self.pid, 0)
            self._reaped(status, ru)
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.005)
        return False

    def stop(self, grace: float = 10.0) -> float:
        """SIGTERM; returns seconds until it exited (SIGKILL after `grace`)."""
        t0 = time.monotonic()
        if self.status is None:
            os.kill(self.pid, signal.SIGTERM)
            if not self.wait(grace):
                log(f"sqtail did not exit {grace:.0f} s after SIGTERM: SIGKILL")
                os.kill(self.pid, signal.SIGKILL)
                self.wait()
        return time.monotonic() - t0

    def fail(self, why: str) -> BenchError:
        return BenchError(f"{why}\n  command: {shlex.join(self.cmd)}\n  last log lines "
                          f"({self.log_path}):\n{tail_file(self.log_path)}")


def wait_for_db(st: Sqtail, db: str, timeout: float = 15.0) -> sqlite3.Connection:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not st.alive():
            raise st.fail(f"sqtail exited early with status {st.status}")
        if os.path.exists(db):
            try:
                con = open_ro(db)
                con.execute("SELECT id, ts FROM events LIMIT 0")
                return con
            except sqlite3.Error:
                pass
        time.sleep(0.02)
    raise st.fail(f"no events table in {db} after {timeout:.0f} s")


def events_count(con: sqlite3.Connection) -> int:
    return con.execute("SELECT count(*) FROM events").fetchone()[0]


# ---------------------------------------------------------------- workloads

def run_batch(a, exe: str, workdir: str) -> dict:
    d, m = workload_dir(a)
    warm_cache(d)
    db = os.path.join(workdir, "sqtail.db")
    st = Sqtail(exe, db, os.path.join(d, "**", "*.jsonl"), a, once=True, workdir=workdir)
    log(f"running: {shlex.join(st.cmd)}")
    timer = threading.Timer(a.timeout, lambda: os.kill(st.pid, signal.SIGKILL))
    t0 = time.perf_counter()
    st.start()
    fds = FdSampler(st.pid, os.path.join(workdir, "out") if a.route else None)
    timer.start()
    try:
        st.wait()
    except BaseException:  # Ctrl-C: do not leave sqtail running
        os.kill(st.pid, signal.SIGKILL)
        st.wait()
        raise
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    peak_fds = fds.stop()
    if st.status != 0:
        raise st.fail(f"sqtail exited with status {st.status} after {wall:.1f} s")
    counts = db_counts(db)
    routed = {}
    if a.route:
        out_lines, out_files = output_lines(os.path.join(workdir, "out"))
        want = m["lines"] if a.route != "errors" else None
        if want is not None and out_lines != want:
            raise st.fail(f"OUTPUT LINE MISMATCH: {out_lines:,} lines in {out_files} files, "
                          f"{want:,} generated")
        routed = dict(route=a.route, output_lines=out_lines, output_files=out_files,
                      peak_fds=peak_fds, peak_output_fds=fds.peak_under)
        if a.route.startswith("files"):
            counts["events"] = counts["distinct"] = m["lines"]  # verified in the files instead
    if counts["events"] != m["lines"] or counts["distinct"] != m["lines"]:
        raise st.fail(f"ROW COUNT MISMATCH: events has {counts['events']:,} rows "
                      f"({counts['distinct']:,} distinct file/offset), {m['lines']:,} lines "
                      f"were generated ({counts})")
    ru = st.rusage
    return dict(
        sqtail_command=shlex.join(st.cmd), files=m["files"], lines=m["lines"],
        input_mb=round(m["bytes"] / 1e6, 1), wall_s=round(wall, 3),
        lines_per_s=round(m["lines"] / wall), mb_per_s=round(m["bytes"] / 1e6 / wall, 1),
        cpu_s=round(ru.ru_utime + ru.ru_stime, 2), cpu_user_s=round(ru.ru_utime, 2),
        cpu_sys_s=round(ru.ru_stime, 2), cpu_pct_of_wall=round(100 * (ru.ru_utime + ru.ru_stime) / wall),
        peak_rss_mib=round(ru.ru_maxrss / 1024, 1), db_mib=db_size_mib(db),
        rows_verified=counts["events"], rejects=counts.get("rejects"), null_ts=counts["null_ts"],
        **routed)


def run_live(a, exe: str, workdir: str) -> dict:
    files, rate, seconds = gen.live_params("W4", a.scale, a.seconds)
    d = os.path.join(workdir, "logs")
    gen.create_live_files(d, "W4")
    db = os.path.join(workdir, "sqtail.db")
    st = Sqtail(exe, db, os.path.join(d, "**", "*.jsonl"), a, once=False, workdir=workdir)
    log(f"running: {shlex.join(st.cmd)}")
    st.start()
    writer = None
    try:
        con = wait_for_db(st, db)
        time.sleep(1.0)  # let discovery register the (empty) files
        writer_cmd = [sys.executable, os.path.join(HERE, "gen.py"), "W4", "--out", d,
                      "--phase", "append", "--seconds", str(seconds), "--seed", str(a.seed)]
        log(f"writer: {shlex.join(writer_cmd)}  ({files} files x {rate} lines/s x {seconds:g} s)")
        self_ru0 = resource.getrusage(resource.RUSAGE_SELF)
        ticks0, sched0, ctxt0 = proc_cpu_ticks(st.pid), proc_sched_ns(st.pid), proc_ctxt(st.pid)
        t_start = time.time()
        writer = subprocess.Popen(writer_cmd, stdout=subprocess.PIPE, cwd=workdir)
        hist: Counter = Counter()
        hist_err: Counter = Counter()
        last_id, seen, max_poll_ms = 0, 0, 0.0
        expected = None
        t_last_row = t_start
        drain_deadline = None
        while True:
            t_poll = time.time()
            rows = con.execute("SELECT id, ts, level FROM events WHERE id > ? ORDER BY id",
                               (last_id,)).fetchall()
            max_poll_ms = max(max_poll_ms, (time.time() - t_poll) * 1000)
            if rows:
                poll_ms = int(t_poll * 1000)
                for _, ts, level in rows:
                    if ts is not None:
                        hist[poll_ms - ts] += 1
                        if level in ("error", "critical", "fatal"):
                            hist_err[poll_ms - ts] += 1
                last_id = rows[-1][0]
                seen += len(rows)
                t_last_row = t_poll
            if expected is None:
                wpid, wstatus, _ = os.wait4(writer.pid, os.WNOHANG)
            if expected is None and wpid:
                writer.returncode = os.waitstatus_to_exitcode(wstatus)  # reaped by wait4
                out = writer.stdout.read().decode()
                if writer.returncode != 0 or not out.strip():
                    raise BenchError(f"live writer failed (status {writer.returncode})")
                wres = json.loads(out.strip().splitlines()[-1])
                expected = wres["lines"]
                drain_deadline = time.time() + 3 * a.flush_interval_ms / 1000 + 15
            if expected is not None and seen >= expected:
                break
            if drain_deadline and time.time() > drain_deadline:
                break
            if not st.alive():
                raise st.fail(f"sqtail exited early with status {st.status}")
            time.sleep(max(0.0, POLL_S - (time.time() - t_poll)))
        ticks1, sched1, ctxt1 = proc_cpu_ticks(st.pid), proc_sched_ns(st.pid), proc_ctxt(st.pid)
        self_ru1 = resource.getrusage(resource.RUSAGE_SELF)
        hwm = proc_status_kib(st.pid, "VmHWM")
        con.close()
    finally:
        if writer is not None and writer.returncode is None:
            writer.kill()  # only on an error path: the writer normally has exited
            writer.wait()
        shutdown_s = st.stop()
    window = t_last_row - t_start
    counts = db_counts(db)
    total = counts["events"]
    if total != expected or counts["distinct"] != expected:
        raise st.fail(f"ROW COUNT MISMATCH: events has {total:,} rows ({counts['distinct']:,} "
                      f"distinct file/offset), the writer appended {expected:,} lines")
    writer_cpu = wres.get("cpu_s")  # while appending (startup and template pool excluded)
    poller_cpu = (self_ru1.ru_utime + self_ru1.ru_stime) - (self_ru0.ru_utime + self_ru0.ru_stime)
    return dict(
        sqtail_command=shlex.join(st.cmd), files=files, lines=expected,
        rate_lines_per_s=files * rate, writer_seconds=wres["seconds"],
        writer_max_behind_ms=wres["max_behind_ms"],
        latency_ms_p50=percentile(hist, 50), latency_ms_p90=percentile(hist, 90),
        latency_ms_p99=percentile(hist, 99), latency_ms_max=max(hist) if hist else None,
        latency_samples=sum(hist.values()), poll_interval_ms=POLL_S * 1000,
        poll_query_max_ms=round(max_poll_ms, 1),
        window_s=round(window, 2),
        cpu_s=round((ticks1 - ticks0) / CLK_TCK, 2),
        cpu_pct_one_core=round(100 * (ticks1 - ticks0) / CLK_TCK / window, 2),
        live_wakeups_per_s=round((sum(ctxt1) - sum(ctxt0)) / window, 1),
        cpu_pct_one_core_schedstat=round(100 * (sched1 - sched0) / 1e9 / window, 2),
        peak_rss_mib=round(hwm / 1024, 1) if hwm else None,
        shutdown_s=round(shutdown_s, 2), exit_status=st.status,
        writer_cpu_s=round(writer_cpu, 2) if writer_cpu is not None else None,
        poller_cpu_s=round(poller_cpu, 2), rows_verified=total,
        **(dict(route=a.route, error_rows=sum(hist_err.values()),
                error_latency_ms_p50=percentile(hist_err, 50),
                error_latency_ms_p99=percentile(hist_err, 99),
                error_latency_ms_max=max(hist_err) if hist_err else None,
                error_file_lines=output_lines(os.path.join(workdir, "out"))[0])
           if a.route else {}))


def run_quiet(a, exe: str, workdir: str) -> dict:
    d, m = workload_dir(a)
    warm_cache(d)
    seconds = a.seconds if a.seconds is not None else 60.0
    db = os.path.join(workdir, "sqtail.db")
    st = Sqtail(exe, db, os.path.join(d, "**", "*.jsonl"), a, once=False, workdir=workdir)
    log(f"running: {shlex.join(st.cmd)}")
    t0 = time.monotonic()
    st.start()
    try:
        con = wait_for_db(st, db)
        deadline = time.monotonic() + a.timeout
        while events_count(con) < m["lines"]:
            if time.monotonic() > deadline:
                raise st.fail(f"backfill incomplete after {a.timeout:.0f} s: "
                              f"{events_count(con):,} of {m['lines']:,} rows")
            if not st.alive():
                raise st.fail(f"sqtail exited early with status {st.status}")
            time.sleep(0.05)
        backfill_s = time.monotonic() - t0
        # Settle: wait until a whole second passes with < 2 ms of CPU (at most 30 s).
        settle0 = time.monotonic()
        prev = proc_sched_ns(st.pid)
        settled = False
        while time.monotonic() - settle0 < 30:
            time.sleep(1.0)
            cur = proc_sched_ns(st.pid)
            if cur - prev < 2_000_000:
                settled = True
                break
            prev = cur
        settle_s = time.monotonic() - settle0
        log(f"backfill done in {backfill_s:.1f} s, settled after {settle_s:.1f} s; "
            f"measuring {seconds:g} s of quiet")
        tasks0 = set(proc_tasks(st.pid))
        ticks0, sched0, (vol0, inv0) = proc_cpu_ticks(st.pid), proc_sched_ns(st.pid), proc_ctxt(st.pid)
        w0 = time.monotonic()
        time.sleep(seconds)
        ticks1, sched1, (vol1, inv1) = proc_cpu_ticks(st.pid), proc_sched_ns(st.pid), proc_ctxt(st.pid)
        window = time.monotonic() - w0
        tasks1 = set(proc_tasks(st.pid))
        hwm = proc_status_kib(st.pid, "VmHWM")
        rss = proc_status_kib(st.pid, "VmRSS")
        fds = proc_fd_count(st.pid)
        rows_after = events_count(con)
        con.close()
        if not st.alive():
            raise st.fail(f"sqtail exited during the quiet window with status {st.status}")
    finally:
        shutdown_s = st.stop()
    counts = db_counts(db)
    if rows_after != m["lines"] or counts["events"] != m["lines"] or counts["distinct"] != m["lines"]:
        raise st.fail(f"ROW COUNT MISMATCH: events has {counts['events']:,} rows "
                      f"({counts['distinct']:,} distinct file/offset; {rows_after:,} before SIGTERM), "
                      f"{m['lines']:,} lines were generated")
    cpu_s = (ticks1 - ticks0) / CLK_TCK
    sched_s = (sched1 - sched0) / 1e9
    wakeups = (vol1 - vol0) + (inv1 - inv0)
    return dict(
        sqtail_command=shlex.join(st.cmd), files=m["files"], lines=m["lines"],
        backfill_s=round(backfill_s, 2), settle_s=round(settle_s, 1), settled=settled, quiet_s=round(window, 1),
        cpu_s=round(cpu_s, 3), cpu_s_per_min=round(cpu_s * 60 / window, 3),
        cpu_s_per_min_schedstat=round(sched_s * 60 / window, 4),
        wakeups=wakeups, wakeups_per_s=round(wakeups / window, 2),
        voluntary_ctxt=vol1 - vol0, nonvoluntary_ctxt=inv1 - inv0,
        threads=len(tasks1), threads_changed=tasks0 != tasks1, open_fds=fds,
        rss_mib=round(rss / 1024, 1) if rss else None,
        peak_rss_mib=round(hwm / 1024, 1) if hwm else None,
        shutdown_s=round(shutdown_s, 2), exit_status=st.status, rows_verified=rows_after)


# ---------------------------------------------------------------- report

UNITS = {
    "lines_per_s": "lines/s", "mb_per_s": "MB/s", "cpu_s": "CPU s (user+sys)",
    "cpu_user_s": "CPU s user", "cpu_sys_s": "CPU s sys", "cpu_pct_of_wall": "% CPU of wall (100 = one core)",
    "peak_rss_mib": "MiB peak RSS", "wall_s": "s wall", "db_mib": "MiB database (+wal/shm)",
    "input_mb": "MB input", "rows_verified": "rows in events (= lines generated)",
    "rejects": "rows in rejects", "null_ts": "events with NULL ts",
    "latency_ms_p50": "ms append->commit p50", "latency_ms_p90": "ms append->commit p90",
    "latency_ms_p99": "ms append->commit p99", "latency_ms_max": "ms append->commit max",
    "latency_samples": "latency samples", "poll_interval_ms": "ms poll interval (latency precision)",
    "poll_query_max_ms": "ms slowest poll query",
    "cpu_pct_one_core": "% of one core (/proc stat utime+stime)",
    "cpu_pct_one_core_schedstat": "% of one core (schedstat ns)",
    "window_s": "s measured window", "shutdown_s": "s SIGTERM->exit", "exit_status": "exit status",
    "writer_cpu_s": "CPU s used by the Python writer while appending",
    "poller_cpu_s": "CPU s used by the Python poller (same machine)",
    "writer_max_behind_ms": "ms writer was behind schedule at worst",
    "rate_lines_per_s": "lines/s appended in total", "writer_seconds": "s writer ran",
    "cpu_s_per_min": "CPU s per minute while quiet (/proc stat)",
    "cpu_s_per_min_schedstat": "CPU s per minute while quiet (schedstat ns)",
    "live_wakeups_per_s": "context switches/s while written (all threads)",
    "wakeups": "context switches while quiet (all threads)", "wakeups_per_s": "wake-ups/s while quiet",
    "voluntary_ctxt": "voluntary ctx switches", "nonvoluntary_ctxt": "nonvoluntary ctx switches",
    "backfill_s": "s initial backfill", "settle_s": "s to settle",
    "settled": "a second with < 2 ms CPU seen before the window (else 30 s cap)", "quiet_s": "s quiet window",
    "threads": "threads", "threads_changed": "threads changed during window", "open_fds": "open fds",
    "rss_mib": "MiB RSS at end", "files": "files", "lines": "lines",
    "route": "--route", "output_lines": "lines in the output files (each once)",
    "output_files": "output files", "peak_fds": "descriptors held, peak (sources, outputs, DB)",
    "peak_output_fds": "descriptors on output files, peak",
    "error_rows": "error rows", "error_latency_ms_p50": "ms error append->commit p50",
    "error_latency_ms_p99": "ms error append->commit p99",
    "error_latency_ms_max": "ms error append->commit max",
    "error_file_lines": "lines in the errors file",
}


ROUTE_TARGETS = {  # (workload, --route, figure) -> (comparison, value): issue 4's figures
    ("W1", "files", "lines_per_s"): (">=", 600_000),
    ("W1", "files-nosync", "lines_per_s"): (">=", 600_000),
    ("W1", "both", "lines_per_s"): (">=", 200_000),
    ("W1", "files", "peak_output_fds"): ("<=", 64),
    ("W1", "files-nosync", "peak_output_fds"): ("<=", 64),
    ("W1", "both", "peak_output_fds"): ("<=", 64),
    ("W4", "errors", "error_latency_ms_p99"): ("<=", 100),
}


def target_for(a, key: str, fig: dict):
    route = getattr(a, "route", None)
    if route and ((a.workload, route, key) in ROUTE_TARGETS or
                  key in ("lines_per_s", "cpu_pct_one_core", "latency_ms_p99")):
        # A routed run has its own throughput and latency figures (issue 4); W4's CPU target
        # is for one commit a second, not the priority commits of --route errors.
        return ROUTE_TARGETS.get((a.workload, route, key))
    if key == "latency_ms_p99" and a.workload == "W4":
        return ("<=", a.flush_interval_ms + 100)
    t = TARGETS.get((a.workload, key, a.raw)) or TARGETS.get((a.workload, key, None))
    return t


def report(a, fig: dict, repro: str, meta: dict) -> bool:
    ok = True
    tag = f"{a.workload} {'raw' if a.raw else 'no-raw'}"
    spec = gen.WORKLOADS[a.workload]
    print(f"== sqtail bench {a.workload}: {spec['desc']}; raw={'yes' if a.raw else 'no'} "
          f"seed={a.seed} scale={a.scale:g}")
    print(f"   reproduce: {repro}")
    print(f"   sqtail:    {fig['sqtail_command']}")
    print(f"   machine:   {meta['cores']} cores, load {meta['load_before']} before / "
          f"{meta['load_after']} after, commit {meta['commit'] or '?'}"
          + (f", busy: {' '.join(meta['busy'])}" if meta["busy"] else ""))
    if a.scale != 1:
        print("   note:      targets apply at --scale 1; shown for orientation only")
    if a.workload == "W4":
        print(f"   note:      latency = poll time - line ts; a {POLL_S * 1000:g} ms poll and ms "
              "timestamps bound its precision to about +/-11 ms")
    if meta.get("warn"):
        print(f"   WARNING:   {meta['warn']}")
    for key, value in fig.items():
        if key == "sqtail_command" or value is None:
            continue
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        verdict = ""
        t = target_for(a, key, fig)
        if t is not None and isinstance(value, (int, float)):
            cmp_, limit = t
            passed = value >= limit if cmp_ == ">=" else value <= limit
            verdict = f"target {cmp_} {limit:,}: {'PASS' if passed else 'MISS'}"
            if a.scale == 1:
                ok &= passed
        print(f"{tag:<10} {key:<28} {shown:>14}  {UNITS.get(key, ''):<44} {verdict:<24} [{repro}]")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("workload", choices=sorted(gen.WORKLOADS))
    raw = ap.add_mutually_exclusive_group()
    raw.add_argument("--raw", dest="raw", action="store_true", default=True,
                     help="store the raw line (sqtail's default)")
    raw.add_argument("--no-raw", dest="raw", action="store_false", help="pass --no-raw to sqtail")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies line counts (W4: duration)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float,
                    help="W4: writer duration (default 60 x scale); W5: quiet window (default 60)")
    ap.add_argument("--flush-interval", default="1s", help="passed to sqtail for W4/W5 (default 1s)")
    ap.add_argument("--route", choices=["files", "files-nosync", "both", "errors"],
                    help="route records to category files (see above)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    ap.add_argument("--sqtail", help="binary to run (default build-release/sqtail, built if missing)")
    ap.add_argument("--rebuild", action="store_true", help="run ninja even if the binary exists")
    ap.add_argument("--regen", action="store_true", help="regenerate the cached workload")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="generator processes")
    ap.add_argument("--tmpdir", help="where the temp dir goes (default: $TMPDIR or /tmp)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before giving up")
    a = ap.parse_args(argv)
    a.flush_interval_ms = parse_duration_ms(a.flush_interval)

    repro = ["python3", "scripts/bench/run.py", a.workload, "--raw" if a.raw else "--no-raw",
             "--seed", str(a.seed), "--scale", f"{a.scale:g}"]
    if a.workload in ("W4", "W5"):
        if a.seconds is not None:
            repro += ["--seconds", f"{a.seconds:g}"]
        repro += ["--flush-interval", a.flush_interval]
    if a.route:
        repro += ["--route", a.route]
    if a.sqtail:
        repro += ["--sqtail", a.sqtail]
    repro = shlex.join(repro)

    try:
        exe = ensure_binary(a)
        workdir = tempfile.mkdtemp(prefix=f"sqtail-bench-{a.workload}-", dir=a.tmpdir)
        meta = dict(cores=os.cpu_count(), commit=git_commit())
        try:
            kind = gen.WORKLOADS[a.workload]["kind"]
            # Generate/warm the inputs before sampling the load average.
            if kind in ("batch", "quiet"):
                workload_dir(a)
            load0 = os.getloadavg()
            busy0 = busy_processes()
            if kind == "batch":
                fig = run_batch(a, exe, workdir)
            elif kind == "live":
                fig = run_live(a, exe, workdir)
            else:
                fig = run_quiet(a, exe, workdir)
            load1 = os.getloadavg()
            busy = [f"{c}x{n}" if n > 1 else c
                    for c, n in sorted((busy0 | busy_processes()).items())]  # max of the two
            meta.update(load_before=" ".join(f"{x:.2f}" for x in load0),
                        load_after=" ".join(f"{x:.2f}" for x in load1), busy=busy)
            if busy:
                meta["warn"] = "build processes were running: figures may be pessimistic"
            elif load0[0] > 0.7:
                meta["warn"] = f"1-min load was {load0[0]:.2f} at start: something else was busy"
            ok = report(a, fig, repro, meta)
            if a.json:
                print(json.dumps(dict(workload=a.workload, raw=a.raw, seed=a.seed, scale=a.scale,
                                      reproduce=repro, **meta, **fig,
                                      targets_met=ok if a.scale == 1 else None)))
        finally:
            if a.keep:
                log(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    except BenchError as e:
        print(f"BENCH FAILED ({a.workload}): {e}\n  reproduce: {repro}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"BENCH FAILED ({a.workload}): {e}\n  reproduce: {repro}", file=sys.stderr)
        return 1
    return 0 if ok or a.scale != 1 else 2


if __name__ == "__main__":
    sys.exit(main())
