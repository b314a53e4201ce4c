#!/usr/bin/env python3
"""Counts test cases from meson's testlog.json and prints "N passed, N failed".

Each gtest binary's stdout ends with gtest's own tally ("[  PASSED  ] 10 tests.",
"[  FAILED  ] 2 tests, listed below:", "[  SKIPPED ] 1 test,"); those are the cases
counted. A binary that crashed or timed out before its tally counts as one failure more;
a test that is not a gtest binary counts as one case.
"""
import json
import re
import sys

TALLY = re.compile(r"^\[  (PASSED|FAILED|SKIPPED) *\] (\d+) tests?[.,]", re.M)
OK = ("OK", "EXPECTEDFAIL")

passed = failed = skipped = 0
with open(sys.argv[1], encoding="utf-8") as log:
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
summary = f"{passed} passed, {failed} failed"
if skipped:
    summary += f", {skipped} skipped"
print(summary)
sys.exit(1 if failed else 0)
