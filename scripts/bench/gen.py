#!/usr/bin/env python3
"""Deterministic JSONL workload generator for the sqtail benchmarks.

Usage:
  gen.py W1 --out DIR [--seed 1] [--scale 1.0] [--jobs 2]
  gen.py W4 --out DIR [--phase all|create|append] [--seconds 60]
  gen.py --sample 5            print five lines and exit

Workloads (line counts are multiplied by --scale; W4's duration too):
  W1  64 files x 50,000 lines          (~1 GB, many medium files)
  W2  1 file x 2,000,000 lines         (one big file)
  W3  1,000 files x 1,000 lines        (many small files)
  W4  40 files, each appended at 250 lines/s for 60 s by a live writer; every
      line's "ts" is its append wall-clock time (ms), so that a reader can
      compute append->commit latency.
  W5  1,000 files x 100 lines, created once; the runner then leaves them quiet.

Files go to DIR/svc-NN/<name>.jsonl (so the glob 'DIR/**/*.jsonl' matches them
all) and DIR/manifest.json records what was generated. Every byte depends only
on (workload, seed, scale) -- except W4's timestamps, which are wall-clock.
Lines are UTF-8 JSON objects of 250-400 bytes (newline excluded), Python
stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor

GEN_VERSION = 2  # bump when the output for a given (workload, seed, scale) changes

MIN_LINE, MAX_LINE = 250, 400
POOL_SIZE = 4096            # distinct line templates
SEQ_SIZE = 1 << 16          # template-choice sequence, shared by all files
BASE_TS_MS = 1795341600000  # 2026-11-22T10:00:00.000Z

WORKLOADS = {
    "W1": dict(kind="batch", files=64, lines=50_000, subdirs=8,
               desc="64 files x 50,000 lines (~1 GB)"),
    "W2": dict(kind="batch", files=1, lines=2_000_000, subdirs=1,
               desc="1 file x 2,000,000 lines"),
    "W3": dict(kind="batch", files=1000, lines=1000, subdirs=10,
               desc="1,000 files x 1,000 lines"),
    "W4": dict(kind="live", files=40, rate=250, seconds=60, subdirs=4,
               desc="40 files appended at 250 lines/s each for 60 s (live writer)"),
    "W5": dict(kind="quiet", files=1000, lines=100, subdirs=10,
               desc="1,000 files x 100 lines, then quiet"),
}

# ~8 levels skewed toward info/debug, ~1 % error.
LEVELS = [("info", 0.500), ("debug", 0.300), ("trace", 0.080), ("notice", 0.040),
          ("warn", 0.065), ("error", 0.010), ("critical", 0.003), ("fatal", 0.002)]

CATEGORIES = [
    "engine", "scheduler", "http.server", "http.client", "grpc", "db.pool", "db.query",
    "cache", "auth", "session", "tool.bash", "tool.read", "tool.edit", "tool.grep",
    "tool.web_fetch", "llm.request", "llm.stream", "tokens", "planner", "memory",
    "fs.watch", "queue", "worker", "retry", "rate_limit", "billing", "metrics", "health",
    "config", "plugin", "sandbox", "network", "dns", "tls", "storage", "uploader",
    "indexer", "search", "embedding", "vector_store", "ui", "telemetry", "audit", "policy",
    "git", "process", "startup", "shutdown",
]
assert len(CATEGORIES) == 48

HOSTS = [f"node-{i}" for i in range(1, 13)]
TENANTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"]
MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-4.1-mini"]
TOOLS = ["bash", "read", "edit", "grep", "glob", "web_fetch", "write", "todo"]
PATHS = ["/v1/messages", "/v1/sessions", "/v1/tools/run", "/healthz", "/metrics",
         "/v1/files/upload", "/v1/search", "/api/users/me", "/v1/embeddings"]
METHODS = ["GET", "POST", "PUT", "DELETE"]
FILES = ["src/main.cpp", "README.md", "conf/sqtail.toml", "tests/unit/parse_test.cpp",
         "/var/log/app/worker-3.log", "package.json", "docs/design.md", "Cargo.toml"]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
UNICODE = ["café", "naïve", "Zürich", "→", "✓ ok", "日本語", "Ωmega", "€ 12,50"]

NORMAL_MESSAGES = [
    "{m} {p} completed with status {s} in {n} ms",
    "cache {hm} for key user:{k}:profile",
    "tool call {t} finished (exit code 0, {n} bytes of output)",
    "retrying request to {h} (attempt {a}/5) after {n} ms backoff",
    "token usage: input={k} output={n} cache_read={k2}",
    "scheduled job {w}-{k} on {h}",
    "session {k} resumed by tenant {tn}",
    "read {n} bytes from {f}",
    "applied edit to {f}: {a} hunks, {n} lines changed",
    "streaming response chunk {a} of model {md} ({n} tokens)",
    "connection pool size={a} idle={k2} waiting=0",
    "planner selected step {a}: {w} {w2}",
    "queue depth {n} (high watermark {k})",
    "config reloaded from {f}",
    "flushed {n} records to storage in {a} batches",
    "watching {f} for changes",
    "heartbeat from {h}: load {a}.{k2}, rss {n} KiB",
    "indexed {n} documents into shard {a}",
    "user note: {u}",
    "policy check passed for {tn}/{w}",
]
ERROR_MESSAGES = [
    "upstream {h} returned 503: service unavailable",
    "failed to open {f}: permission denied",
    "tool call {t} failed: exit code {a} after {n} ms",
    "request {m} {p} timed out after {n} ms",
    "database is locked; giving up after {a} retries",
    "invalid response from model {md}: unexpected end of stream",
    "tenant {tn} exceeded rate limit ({n} req/min)",
    "panic in worker {w}-{k}: index out of range",
]


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        m=rng.choice(METHODS), p=rng.choice(PATHS), s=rng.choice([200, 200, 200, 201, 204, 304, 404]),
        n=rng.randint(1, 99999), hm=rng.choice(["hit", "hit", "miss"]), k=rng.randint(1, 999999),
        k2=rng.randint(0, 99), t=rng.choice(TOOLS), h=rng.choice(HOSTS), a=rng.randint(1, 9),
        w=rng.choice(WORDS), w2=rng.choice(WORDS), tn=rng.choice(TENANTS), f=rng.choice(FILES),
        md=rng.choice(MODELS), u=rng.choice(UNICODE) + " " + rng.choice(WORDS))


def _attr(rng: random.Random):
    key = rng.choice(["host", "pid", "thread", "tenant", "user_id", "session_id", "path",
                      "method", "status", "bytes", "model", "tokens_in", "tokens_out",
                      "attempt", "queue_depth", "region", "version", "span_id", "trace_id",
                      "cache_hit", "tool", "file", "retries", "shard"])
    value = {
        "host": lambda: rng.choice(HOSTS), "pid": lambda: rng.randint(100, 65000),
        "thread": lambda: f"worker-{rng.randint(0, 15)}", "tenant": lambda: rng.choice(TENANTS),
        "user_id": lambda: f"u_{rng.getrandbits(40):010x}",
        "session_id": lambda: f"sess_{rng.getrandbits(64):016x}",
        "path": lambda: rng.choice(PATHS), "method": lambda: rng.choice(METHODS),
        "status": lambda: rng.choice([200, 201, 204, 400, 404, 500]),
        "bytes": lambda: rng.randint(0, 10_000_000), "model": lambda: rng.choice(MODELS),
        "tokens_in": lambda: rng.randint(10, 200_000), "tokens_out": lambda: rng.randint(1, 8000),
        "attempt": lambda: rng.randint(1, 5), "queue_depth": lambda: rng.randint(0, 5000),
        "region": lambda: rng.choice(["eu-west-1", "us-east-1", "ap-south-1"]),
        "version": lambda: f"1.{rng.randint(0, 40)}.{rng.randint(0, 9)}",
        "span_id": lambda: f"{rng.getrandbits(64):016x}",
        "trace_id": lambda: f"{rng.getrandbits(128):032x}",
        "cache_hit": lambda: rng.random() < 0.7, "tool": lambda: rng.choice(TOOLS),
        "file": lambda: rng.choice(FILES), "retries": lambda: rng.randint(0, 3),
        "shard": lambda: rng.randint(0, 63),
    }[key]()
    return key, value


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Variable parts per line: ts (fixed 24 chars), request_id (fixed 16 chars),
# duration_ms (1..5 digits). Templates are %-format strings with exactly those 3 slots.
TS_LEN, RID_LEN, DUR_MIN, DUR_MAX = 24, 16, 1, 5


def build_pool(seed: int):
    """Returns (templates, choice_sequence, durations, level_of_template)."""
    rng = random.Random(f"sqtail-bench-pool:{seed}")
    # Exact level proportions in the pool (the choice sequence then samples it uniformly).
    pool_levels = []
    for name, weight in LEVELS:
        pool_levels += [name] * int(round(weight * POOL_SIZE))
    pool_levels = (pool_levels + ["info"] * POOL_SIZE)[:POOL_SIZE]
    rng.shuffle(pool_levels)
    templates, levels = [], []
    for level in pool_levels:
        category = rng.choice(CATEGORIES)
        bad = level in ("error", "critical", "fatal")
        message = _fill(rng, rng.choice(ERROR_MESSAGES if bad else NORMAL_MESSAGES))
        head = ('{"ts":"%s","level":' + _dumps(level).replace("%", "%%") +
                ',"category":' + _dumps(category).replace("%", "%%") +
                ',"message":' + _dumps(message).replace("%", "%%") +
                ',"request_id":"%s","duration_ms":%d,"attrs":')
        fixed = len(head.replace("%%", "%").encode()) - 6  # minus the 3 slots
        target = rng.randint(MIN_LINE + 10, MAX_LINE - 10)
        attrs: dict = {}
        for _ in range(1000):
            k, v = _attr(rng)
            if k in attrs:
                continue
            trial = dict(attrs)
            trial[k] = v
            size = fixed + len(_dumps(trial).encode()) + 1  # + closing brace
            if size + TS_LEN + RID_LEN + DUR_MAX > MAX_LINE:
                continue  # too long with the widest variable parts: try another attr
            attrs = trial
            if size + TS_LEN + RID_LEN + DUR_MIN >= target:
                break
        tpl = head + _dumps(attrs).replace("%", "%%") + "}"
        lo = fixed + len(_dumps(attrs).encode()) + 1 + TS_LEN + RID_LEN
        assert MIN_LINE <= lo + DUR_MIN and lo + DUR_MAX <= MAX_LINE, (lo, tpl)
        templates.append(tpl)
        levels.append(level)
    seq = [rng.randrange(POOL_SIZE) for _ in range(SEQ_SIZE)]
    # Durations: mostly small, long tail up to 99,999 ms (at most 5 digits).
    durations = [min(99_999, int(rng.lognormvariate(3.0, 1.6))) for _ in range(SEQ_SIZE)]
    return templates, seq, durations, levels


_POOL_CACHE: dict = {}


def pool(seed: int):
    if seed not in _POOL_CACHE:
        _POOL_CACHE[seed] = build_pool(seed)
    return _POOL_CACHE[seed]


class TsFormatter:
    """Epoch ms -> '2026-11-22T10:00:00.123Z', caching the per-second prefix."""

    def __init__(self):
        self._sec = None
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        sec, frac = divmod(ms, 1000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec))
        return "%s%03dZ" % (self._prefix, frac)


def scaled(n: int, scale: float) -> int:
    return max(1, int(round(n * scale)))


def layout(workload: str):
    """File paths (relative to the output dir) of a workload, in file-index order."""
    spec = WORKLOADS[workload]
    w = workload.lower()
    return [os.path.join(f"svc-{i % spec['subdirs']:02d}", f"{w}-app-{i:04d}.jsonl")
            for i in range(spec["files"])]


def write_file(args) -> tuple[int, int]:
    """Writes one batch file; returns (lines, bytes)."""
    path, workload, seed, index, nlines = args
    templates, seq, durations, _ = pool(seed)
    rng = random.Random(f"sqtail-bench-file:{workload}:{seed}:{index}")
    rid_prefix = "%010x" % rng.getrandbits(40)
    offset = rng.randrange(SEQ_SIZE)
    dur_off = rng.randrange(SEQ_SIZE)
    ts = BASE_TS_MS + rng.randrange(60_000)
    # Per-line time step: 1..25 ms, from a small precomputed list.
    steps = [rng.randint(1, 25) for _ in range(256)]
    fmt = TsFormatter()
    mask = SEQ_SIZE - 1
    total = 0
    chunk_lines = 16384
    with open(path, "wb", buffering=0) as f:
        i = 0
        while i < nlines:
            end = min(nlines, i + chunk_lines)
            out = []
            append = out.append
            for j in range(i, end):
                ts += steps[j & 255]
                append(templates[seq[(offset + j) & mask]] % (
                    fmt(ts), "%s%06x" % (rid_prefix, (j >> 2) & 0xFFFFFF),
                    durations[(dur_off + j) & mask]))
            data = ("\n".join(out) + "\n").encode()
            f.write(data)
            total += len(data)
            i = end
    return nlines, total


def generate_batch(workload: str, out: str, seed: int, scale: float, jobs: int,
                   quiet: bool = False) -> dict:
    spec = WORKLOADS[workload]
    nlines = scaled(spec["lines"], scale)
    rels = layout(workload)
    for d in sorted({os.path.dirname(r) for r in rels}):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    tasks = [(os.path.join(out, rel), workload, seed, i, nlines) for i, rel in enumerate(rels)]
    t0 = time.monotonic()
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            results = list(ex.map(write_file, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))
    else:
        results = [write_file(t) for t in tasks]
    elapsed = time.monotonic() - t0
    manifest = dict(workload=workload, kind=spec["kind"], seed=seed, scale=scale,
                    gen_version=GEN_VERSION, files=len(tasks), lines_per_file=nlines,
                    lines=sum(r[0] for r in results), bytes=sum(r[1] for r in results),
                    pattern="**/*.jsonl", gen_seconds=round(elapsed, 3))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if not quiet:
        print(f"{workload}: {manifest['files']} files, {manifest['lines']:,} lines, "
              f"{manifest['bytes'] / 1e6:,.1f} MB in {elapsed:.1f} s -> {out}", file=sys.stderr)
    return manifest


def live_params(workload: str, scale: float, seconds: float | None):
    spec = WORKLOADS[workload]
    dur = seconds if seconds is not None else max(1.0, spec["seconds"] * scale)
    return spec["files"], spec["rate"], dur


def create_live_files(out: str, workload: str = "W4") -> list[str]:
    paths = [os.path.join(out, rel) for rel in layout(workload)]
    for p in paths:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "wb").close()
    return paths


def run_live_writer(out: str, seed: int, rate: float, seconds: float, workload: str = "W4",
                    tick: float = 0.010) -> dict:
    """Appends `rate` lines/s to every file for `seconds`; ts = append time (ms).

    Each tick writes, per file, the lines due by now (one os.write per file, whole
    lines only, O_APPEND). If the writer falls behind it catches up in bigger writes;
    max_behind_ms reports how far behind schedule it ever was.
    """
    templates, seq, durations, _ = pool(seed)
    mask = SEQ_SIZE - 1
    paths = [os.path.join(out, rel) for rel in layout(workload)]
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) for p in paths]
    rng = random.Random(f"sqtail-bench-live:{workload}:{seed}")
    offsets = [rng.randrange(SEQ_SIZE) for _ in paths]
    prefixes = ["%010x" % rng.getrandbits(40) for _ in paths]
    written = [0] * len(paths)
    target_total = int(round(rate * seconds))
    fmt = TsFormatter()
    total_bytes = 0
    max_behind = 0.0
    cpu0 = time.process_time()
    t0 = time.time()
    next_tick = t0
    try:
        while True:
            now = time.time()
            elapsed = now - t0
            due = min(target_total, int(elapsed * rate))
            ts_text = fmt(int(now * 1000))
            for k, fd in enumerate(fds):
                n0 = written[k]
                if due <= n0:
                    continue
                off, pre = offsets[k], prefixes[k]
                data = "".join([templates[seq[(off + j) & mask]] % (
                    ts_text, "%s%06x" % (pre, (j >> 2) & 0xFFFFFF), durations[(off + j) & mask])
                    + "\n" for j in range(n0, due)]).encode()
                os.write(fd, data)
                total_bytes += len(data)
                written[k] = due
            if due >= target_total:
                break
            next_tick += tick
            delay = next_tick - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                max_behind = max(max_behind, -delay)
                next_tick = time.time()
    finally:
        for fd in fds:
            os.close(fd)
    return dict(files=len(fds), lines=sum(written), bytes=total_bytes,
                seconds=round(time.time() - t0, 3), rate_per_file=rate,
                max_behind_ms=round(max_behind * 1000, 1),
                cpu_s=round(time.process_time() - cpu0, 3))


def check_dir(out: str) -> dict:
    """Validates a generated directory: every line json.loads to an object with the
    expected keys, is 250-400 bytes, and the totals match manifest.json. Returns stats;
    raises AssertionError on the first problem."""
    manifest = {}
    if os.path.exists(os.path.join(out, "manifest.json")):
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
    lines = nbytes = 0
    lo, hi = 10**9, 0
    levels: dict = {}
    categories: set = set()
    for root, _, names in os.walk(out):
        for name in sorted(names):
            if not name.endswith(".jsonl"):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            nbytes += len(data)
            assert data.endswith(b"\n"), f"{path}: no final newline"
            for n, raw in enumerate(data[:-1].split(b"\n"), 1):
                size = len(raw)
                assert MIN_LINE <= size <= MAX_LINE, f"{path}:{n}: {size} bytes"
                lo, hi = min(lo, size), max(hi, size)
                obj = json.loads(raw)
                assert isinstance(obj, dict), f"{path}:{n}: not an object"
                assert list(obj)[:7] == ["ts", "level", "category", "message", "request_id",
                                         "duration_ms", "attrs"], f"{path}:{n}: keys {list(obj)}"
                time.strptime(obj["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
                levels[obj["level"]] = levels.get(obj["level"], 0) + 1
                categories.add(obj["category"])
                lines += 1
    if "lines" in manifest:
        assert lines == manifest["lines"], f"{lines} lines, manifest says {manifest['lines']}"
        assert nbytes == manifest["bytes"], f"{nbytes} bytes, manifest says {manifest['bytes']}"
    return dict(lines=lines, bytes=nbytes, min_line=lo, max_line=hi,
                mean_line=round(nbytes / max(1, lines) - 1, 1), categories=len(categories),
                levels={k: round(v / max(1, lines), 4)
                        for k, v in sorted(levels.items(), key=lambda kv: -kv[1])})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("workload", nargs="?", choices=sorted(WORKLOADS))
    ap.add_argument("--out", help="output directory (created)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiplies line counts (W4: the duration)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes for multi-file batch workloads (output is identical)")
    ap.add_argument("--phase", choices=["all", "create", "append"], default="all",
                    help="W4 only: create the empty files, run the live writer, or both")
    ap.add_argument("--seconds", type=float, help="W4 only: writer duration (overrides --scale)")
    ap.add_argument("--sample", type=int, metavar="N", help="print N lines to stdout and exit")
    ap.add_argument("--check", metavar="DIR", help="validate a generated directory and exit")
    a = ap.parse_args(argv)

    if a.check:
        print(json.dumps(check_dir(a.check), indent=1))
        return 0

    if a.sample:
        templates, seq, durations, _ = pool(a.seed)
        fmt = TsFormatter()
        for j in range(a.sample):
            print(templates[seq[j]] % (fmt(BASE_TS_MS + 7 * j), "%016x" % j, durations[j]))
        return 0
    if not a.workload or not a.out:
        ap.error("WORKLOAD and --out are required (or --sample N)")
    os.makedirs(a.out, exist_ok=True)
    kind = WORKLOADS[a.workload]["kind"]
    if kind == "live":
        files, rate, seconds = live_params(a.workload, a.scale, a.seconds)
        if a.phase in ("all", "create"):
            create_live_files(a.out, a.workload)
        if a.phase in ("all", "append"):
            pool(a.seed)  # build the template pool before the clock starts
            result = run_live_writer(a.out, a.seed, rate, seconds, a.workload)
            print(json.dumps(result), flush=True)
        return 0
    generate_batch(a.workload, a.out, a.seed, a.scale, a.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
