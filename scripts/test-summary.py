#!/usr/bin/env python3
"""Counts test cases from meson's testlog.json and prints "N passed, N failed".

gtest binaries run with protocol 'gtest', so meson records each test case as a sub-result;
a test executable that crashed before reporting counts as one failure.
"""
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        test = json.loads(line)
        subs = test.get("subtests") or []
        if subs:
            for sub in subs:
                result = sub.get("result", "")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
            if test.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
                    s.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") for s in subs):
                failed += 1  # the binary failed (a crash, a timeout) after its cases passed
        else:
            result = test.get("result", "")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
