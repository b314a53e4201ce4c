#!/usr/bin/env python3
"""Times `sqtail stats` on a stats DB of 10 million events.

  scripts/bench/stats_bench.py [--events 10000000] [--days 7] [--sources 4] [--raw]
                               [--repeat 7] [--keep DIR | --db DB] [--sqtail PATH]

The DB is made by `sqtail run --once` on a one-line file (so the schema is sqtail's own),
then filled with Python's sqlite3: `--events` rows in `events` spread evenly over the last
`--days` days (ids in time order, as sqtail commits them), levels and categories drawn
like gen.py's (8 skewed levels, 48 categories), `--sources` sources of 16 files each, and
the `stats_minute` rollup computed from exactly those rows, as sqtail's writer would, and
`stats_hour` summed from it (when the binary's schema has it: an older sqtail's has not).
`--raw` also stores a ~300-byte raw line per event (a ~4 GB DB; without it ~0.7 GB).

Each query runs `--repeat` times after one warm-up (warm page cache); the figure is the
wall time of the whole process (start, open, query, print, exit), min and median, next
to `sqtail version` as the floor of process start-up. Target: < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (scripts/bench/gen.py: the level and category mix)

TARGET_MS = 100.0

QUERIES = [
    ("by level,category since 24h", ["--by", "level,category", "--since", "24h"]),
    ("by hour (all time)", ["--by", "hour"]),
    ("by hour since 24h", ["--by", "hour", "--since", "24h"]),
    ("by level (all time)", ["--by", "level"]),
    ("by category where level=error|fatal since 24h",
     ["--by", "category", "--where", "level=error|fatal", "--since", "24h"]),
    ("by level,category since 24h, table + sparkline",
     ["--by", "level,category", "--since", "24h", "--format", "table", "--sparkline"]),
    ("by day,source since 7d", ["--by", "day,source", "--since", "7d"]),
]


def find_sqtail(path: str | None) -> str:
    for candidate in ([path] if path else [os.path.join(ROOT, "build-release", "sqtail"),
                                           os.path.join(ROOT, "build", "sqtail")]):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("stats_bench: no sqtail binary (build with `ninja -C build-release` or pass --sqtail)")


def build_db(sqtail: str, workdir: str, args) -> str:
    db = os.path.join(workdir, "bench.db")
    logs = os.path.join(workdir, "logs")
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, "seed.jsonl"), "w") as f:
        f.write('{"ts":"2026-01-01T00:00:00Z","level":"info","message":"schema"}\n')
    subprocess.run([sqtail, "run", "--once", "--db", db, os.path.join(logs, "*.jsonl")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA cache_size = -262144")
    con.execute("DELETE FROM events")
    con.execute("DELETE FROM stats_minute")
    has_hour = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'stats_hour'"
                           ).fetchone()[0] > 0
    if has_hour:
        con.execute("DELETE FROM stats_hour")
    con.execute("DELETE FROM files")

    rng = random.Random(args.seed)
    sources = [f"svc-{i}" for i in range(args.sources)]
    files_per_source = 16
    file_ids = list(range(1, args.sources * files_per_source + 1))
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - args.days * 86_400_000
    span = now_ms - start_ms
    levels = [name for name, _ in gen.LEVELS]
    level_w = [w for _, w in gen.LEVELS]
    # Categories are not equally busy in real logs: a mild Zipf skew.
    cats = gen.CATEGORIES
    cat_w = [1.0 / (i + 1) ** 0.8 for i in range(len(cats))]
    pad = "x" * 220

    rollup: dict[tuple[int, str, str, str], list[int]] = {}
    per_file = {fid: [0, 0, 0] for fid in file_ids}  # offset, line_no, last_ts
    chunk = 200_000
    t0 = time.time()
    insert = ("INSERT INTO events(id, file_id, offset, line_no, ts, level, category, message, raw) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    next_id = 1
    for base in range(0, args.events, chunk):
        n = min(chunk, args.events - base)
        lv = rng.choices(levels, level_w, k=n)
        ct = rng.choices(cats, cat_w, k=n)
        fids = rng.choices(file_ids, k=n)
        rows = []
        for j in range(n):
            i = base + j
            ts = start_ms + (i * span) // args.events + rng.randrange(1000)
            fid = fids[j]
            msg = f"{ct[j]} did {i % 977} things"
            raw = None
            if args.raw:
                raw = (f'{{"ts":{ts},"level":"{lv[j]}","category":"{ct[j]}",'
                       f'"message":"{msg}","pad":"{pad}"}}')
                length = len(raw) + 1
            else:
                length = 300 + (i % 100)  # the bytes a line of gen.py's size would have had
            st = per_file[fid]
            rows.append((next_id, fid, st[0], st[1] + 1, ts, lv[j], ct[j], msg, raw))
            next_id += 1
            st[0] += length
            st[1] += 1
            st[2] = ts
            source = sources[(fid - 1) // files_per_source]
            key = (ts // 60_000, source, ct[j], lv[j])
            acc = rollup.get(key)
            if acc is None:
                rollup[key] = [1, length]
            else:
                acc[0] += 1
                acc[1] += length
        con.executemany(insert, rows)
        con.commit()
        done = base + n
        print(f"\r  events {done:,}/{args.events:,}  ({time.time() - t0:.0f}s)", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    con.executemany(
        "INSERT INTO stats_minute(minute, source, category, level, lines, bytes) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((m, s, c, lv, a[0], a[1]) for (m, s, c, lv), a in sorted(rollup.items())))
    if has_hour:
        # What the writer's per-batch hour upserts add up to (minutes here are all >= 0).
        con.execute("INSERT INTO stats_hour(hour, source, category, level, lines, bytes) "
                    "SELECT minute / 60, source, category, level, sum(lines), sum(bytes) "
                    "FROM stats_minute GROUP BY 1, 2, 3, 4")
    files = []
    for fid in file_ids:
        off, lines, last = per_file[fid]
        source = sources[(fid - 1) // files_per_source]
        files.append((fid, source, os.path.join(logs, f"{source}-{fid}.jsonl"), 0, 1000 + fid, 0,
                      0, off, lines, off, "active", lines, start_ms, now_ms, last))
    con.executemany(
        "INSERT INTO files(id, source, path, dev, inode, fingerprint, fingerprint_len, offset, "
        "line_no, size, state, lines, first_seen, last_seen, last_event_ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", files)
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("ANALYZE")
    con.close()
    print(f"  built in {time.time() - t0:.0f}s", file=sys.stderr)
    return db


def time_cmd(cmd: list[str], repeat: int) -> tuple[float, float, float, str]:
    """Wall ms (min, median) and CPU ms (user+sys, median) of the whole process."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout  # warm-up
    times, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return min(times), statistics.median(times), statistics.median(cpus), out


def cpu_ms(con: sqlite3.Connection, sql: str, params=(), repeat: int = 5) -> tuple[float, int]:
    best, rows = 1e18, 0
    for _ in range(repeat):
        t = time.process_time()
        rows = len(con.execute(sql, params).fetchall())
        best = min(best, (time.process_time() - t) * 1000)
    return best, rows


def hourly_prototype(db: str, args) -> None:
    """What an hourly rollup table would buy, measured with the same SQLite in-process.

    Builds proto_stats_hour from stats_minute (not a table sqtail knows), times the two target
    queries against it and against stats_minute, and the extra upserts a writer would do per
    batch to keep it (same statement shapes as sqtail's rollup upsert)."""
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE IF NOT EXISTS proto_stats_hour(hour INTEGER NOT NULL, "
                "source TEXT NOT NULL, category TEXT NOT NULL, level TEXT NOT NULL, "
                "lines INTEGER NOT NULL, bytes INTEGER NOT NULL, "
                "PRIMARY KEY(hour, source, category, level)) WITHOUT ROWID")
    if con.execute("SELECT count(*) FROM proto_stats_hour").fetchone()[0] == 0:
        con.execute("INSERT INTO proto_stats_hour SELECT minute / 60, source, category, level, "
                    "sum(lines), sum(bytes) FROM stats_minute GROUP BY 1, 2, 3, 4")
        con.commit()
    n_hour = con.execute("SELECT count(*) FROM proto_stats_hour").fetchone()[0]
    now_min = int(time.time()) // 60
    since_min = now_min - 1440
    first_full_hour = (since_min + 59) // 60
    last_full_hour = now_min // 60  # exclusive: the current hour is partial
    minute_q = ("SELECT level, category, sum(lines), sum(bytes) FROM stats_minute "
                "WHERE minute >= ? GROUP BY 1, 2")
    hour_q = ("SELECT level, category, sum(lines), sum(bytes) FROM ("
              " SELECT level, category, lines, bytes FROM proto_stats_hour"
              "  WHERE hour >= ?2 AND hour < ?3"
              " UNION ALL SELECT level, category, lines, bytes FROM stats_minute"
              "  WHERE (minute >= ?1 AND minute < ?2 * 60) OR minute >= ?3 * 60"
              ") GROUP BY 1, 2")
    print(f"\nhourly rollup prototype: {n_hour:,} proto_stats_hour rows "
          "(python sqlite3 in-process, cpu ms, best of 5)")
    for name, sql, params in [
        ("by level,category since 24h: stats_minute", minute_q, (since_min,)),
        ("by level,category since 24h: hours + edge minutes", hour_q,
         (since_min, first_full_hour, last_full_hour)),
        ("by hour (all time): stats_minute GROUP BY minute",
         "SELECT minute, sum(lines), sum(bytes) FROM stats_minute GROUP BY minute", ()),
        ("by hour (all time): proto_stats_hour GROUP BY hour",
         "SELECT hour, sum(lines), sum(bytes) FROM proto_stats_hour GROUP BY hour", ()),
    ]:
        ms, rows = cpu_ms(con, sql, params)
        print(f"  {name:<58} {ms:8.1f} ms  {rows:>6} rows")

    # Writer cost: one backfill-sized batch (20,000 events, ~20 minutes of this mix) upserted
    # into the minute rollup alone, then into both.
    mem = sqlite3.connect(os.path.join(os.path.dirname(db), "writer-proto.db"))
    mem.execute("PRAGMA journal_mode = WAL")
    mem.execute("PRAGMA synchronous = NORMAL")
    for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE name IN "
                              "('stats_minute', 'proto_stats_hour')"):
        mem.execute(sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
    batch = con.execute("SELECT minute, source, category, level, lines, bytes FROM stats_minute "
                        "ORDER BY minute DESC LIMIT 8400").fetchall()
    hours: dict[tuple, list[int]] = {}
    for m, s_, c, lv, n, b in batch:
        acc = hours.setdefault((m // 60, s_, c, lv), [0, 0])
        acc[0] += n
        acc[1] += b
    up_min = ("INSERT INTO stats_minute VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
              "lines = lines + excluded.lines, bytes = bytes + excluded.bytes")
    up_hour = up_min.replace("stats_minute", "proto_stats_hour")
    hour_rows = [(h, s_, c, lv, a[0], a[1]) for (h, s_, c, lv), a in hours.items()]
    # Warm both tables (rows exist: upserts update, as in a live minute), then alternate
    # so that load from elsewhere hits both alike; best of each.
    mem.executemany(up_min, batch)
    mem.executemany(up_hour, hour_rows)
    mem.commit()
    t_min = t_both = 1e18
    for _ in range(20):
        t = time.process_time()
        mem.executemany(up_min, batch)
        mem.commit()
        t_min = min(t_min, (time.process_time() - t) * 1000)
        t = time.process_time()
        mem.executemany(up_min, batch)
        mem.executemany(up_hour, hour_rows)
        mem.commit()
        t_both = min(t_both, (time.process_time() - t) * 1000)
    mem.close()
    os.remove(os.path.join(os.path.dirname(db), "writer-proto.db"))
    print(f"  writer cpu, per 20,000-event batch ({len(batch):,} minute rows, {len(hour_rows):,} hour "
          f"rows): minute rollup {t_min:.1f} ms, minute + hour {t_both:.1f} ms "
          f"(+{t_both - t_min:.1f} ms)")
    con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--raw", action="store_true", help="store a raw line per event")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sqtail", help="binary (default build-release/sqtail, else build/sqtail)")
    ap.add_argument("--db", help="reuse a DB built by an earlier --keep run")
    ap.add_argument("--keep", help="build the DB in this directory and keep it")
    ap.add_argument("--show", action="store_true", help="print each query's output once")
    ap.add_argument("--hourly-prototype", action="store_true",
                    help="also time the prototype that preceded stats_hour, in-process (adds a "
                         "table proto_stats_hour to the DB)")
    args = ap.parse_args()

    sqtail = find_sqtail(args.sqtail)
    tmp = None
    if args.db:
        db = args.db
    else:
        workdir = args.keep or tempfile.mkdtemp(prefix="sqtail-stats-bench-")
        tmp = None if args.keep else workdir
        os.makedirs(workdir, exist_ok=True)
        print(f"building {args.events:,} events over {args.days} days in {workdir}",
              file=sys.stderr)
        db = build_db(sqtail, workdir, args)
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        n_events = con.execute("SELECT max(id) FROM events").fetchone()[0]
        n_rollup = con.execute("SELECT count(*) FROM stats_minute").fetchone()[0]
        day_rollup = con.execute(
            "SELECT count(*) FROM stats_minute WHERE minute >= (strftime('%s','now') - 86400) / 60"
        ).fetchone()[0]
        n_hour = None
        if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'stats_hour'").fetchone()[0]:
            n_hour = con.execute("SELECT count(*) FROM stats_hour").fetchone()[0]
        con.close()
        size = os.path.getsize(db)
        print(f"sqtail: {sqtail}")
        print(f"db: {db}  {size / 2**30:.2f} GiB, {n_events:,} events, "
              f"{n_rollup:,} stats_minute rows ({day_rollup:,} in the last 24 h), "
              + (f"{n_hour:,} stats_hour rows" if n_hour is not None else "no stats_hour table"))
        print(f"load average before: {os.getloadavg()[0]:.2f} "
              "(wall times include waiting for a CPU; cpu is the process's own user+sys)")
        floor_min, floor_med, floor_cpu, _ = time_cmd([sqtail, "version"], args.repeat)
        print(f"{'process start-up floor (sqtail version)':<52} wall min {floor_min:7.1f} ms  "
              f"median {floor_med:7.1f} ms  cpu {floor_cpu:7.1f} ms")
        worst = 0.0
        for name, q in QUERIES:
            cmd = [sqtail, "stats", "--db", db] + q
            if "--format" not in q:
                cmd += ["--format", "csv"]
            mn, med, cpu, out = time_cmd(cmd, args.repeat)
            worst = max(worst, med)
            flag = "" if med < TARGET_MS else "   (over the 100 ms target)"
            print(f"{name:<52} wall min {mn:7.1f} ms  median {med:7.1f} ms  cpu {cpu:7.1f} ms  "
                  f"{out.count(chr(10)) - 1:>5} rows{flag}")
            if args.show:
                print(out)
        if args.hourly_prototype:
            hourly_prototype(db, args)
        print(f"command: {' '.join(sys.argv)}")
        return 0 if worst < TARGET_MS else 2
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
