#!/usr/bin/env python3
"""Counts test cases from meson's testlog.json files and prints "N passed, N failed".

    test-summary.py [LABEL=]testlog.json ... [--reports DIR]... [--failed WHAT]...
                    [--passed WHAT]...

Each gtest binary's stdout ends with gtest's own tally ("[  PASSED  ] 10 tests.",
"[  FAILED  ] 2 tests, listed below:", "[  SKIPPED ] 1 test,"); those are the cases
counted. A binary that crashed or timed out before its tally counts as one failure more;
a test that is not a gtest binary (a fuzz target) counts as one case.

Several logs (the normal, ASan, TSan and fuzz builds) add up to one last line; with more
than one, a line per log comes first. --reports DIR: every file in DIR is a sanitizer report
(ASan, UBSan, LSan, TSan write one per process, only when they report): each counts as one
failure and its first lines are printed. --failed WHAT: a step without a log (a build that
failed) counts as one failure; --passed WHAT: a step without a log that passed (the lint)
counts as one case passed.
"""
import argparse
import json
import os
import re
import sys

TALLY = re.compile(r"^\[  (PASSED|FAILED|SKIPPED) *\] (\d+) tests?[.,]", re.M)
OK = ("OK", "EXPECTEDFAIL")
REPORT_LINES = 60


def count(path):
    """(passed, failed, skipped) of one testlog.json."""
    passed = failed = skipped = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            test = json.loads(line)
            counts = {"PASSED": 0, "FAILED": 0, "SKIPPED": 0}
            found = False
            for kind, n in TALLY.findall(test.get("stdout") or ""):
                counts[kind] = int(n)
                found = True
            result = test.get("result", "")
            if found:
                passed += counts["PASSED"]
                failed += counts["FAILED"]
                skipped += counts["SKIPPED"]
                if result not in OK + ("SKIP",) and counts["FAILED"] == 0:
                    failed += 1  # the binary failed after its cases passed (sanitizer, exit code)
            elif result in OK:
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    return passed, failed, skipped


def reports(directory):
    """The sanitizer report files in directory, each printed; their number."""
    if not os.path.isdir(directory):
        return 0
    found = 0
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            continue
        found += 1
        print(f"--- sanitizer report {path}:")
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        sys.stdout.writelines(lines[:REPORT_LINES])
        if len(lines) > REPORT_LINES:
            print(f"... ({len(lines) - REPORT_LINES} more lines in {path})")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="*", help="[LABEL=]path/to/testlog.json")
    parser.add_argument("--reports", action="append", default=[], metavar="DIR")
    parser.add_argument("--failed", action="append", default=[], metavar="WHAT")
    parser.add_argument("--passed", action="append", default=[], metavar="WHAT")
    args = parser.parse_intermixed_args()

    passed = failed = skipped = 0
    lines = []
    for spec in args.logs:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = spec, spec
        try:
            p, f, s = count(path)
        except OSError as e:
            print(f"{label}: cannot read {path}: {e}")
            p, f, s = 0, 1, 0
        lines.append(f"  {label}: {p} cases passed, {f} failed" + (f", {s} skipped" if s else ""))
        passed, failed, skipped = passed + p, failed + f, skipped + s
    for directory in args.reports:
        n = reports(directory)
        if n:
            lines.append(f"  {directory}: {n} sanitizer report(s), each counted as a failure")
        failed += n
    for what in args.passed:
        lines.append(f"  {what}: passed")
        passed += 1
    for what in args.failed:
        lines.append(f"  {what}: failed")
        failed += 1
    if len(lines) > 1 or args.failed or any("report" in line for line in lines):
        print("summary:")
        print("\n".join(lines))
    if not args.logs and not args.failed and not args.passed:
        failed += 1  # nothing ran: not a pass
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
