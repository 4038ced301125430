"""Long fuzz run of the whole API from its OpenAPI schema (schemathesis).

The same test as ``tests/security/test_fuzz.py`` (a live uvicorn, every operation, checks: no
5xx, documented status codes, content types, headers and response bodies), with many more
examples per operation and, by default, fresh random data each run. Prints the operations
checked, those that failed with schemathesis' reproduction, and the time taken.

Run: ``python bench/fuzz.py [--examples 200] [--seed N | --derandomize]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200,
                        help="examples per operation (the test suite uses 6)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed")
    parser.add_argument("--derandomize", action="store_true",
                        help="the same examples every run")
    args = parser.parse_args()

    env = {**os.environ, "FUZZ_MAX_EXAMPLES": str(args.examples),
           "FUZZ_DERANDOMIZE": "1" if args.derandomize else "0"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
           "tests/security/test_fuzz.py", "-k", "test_api_conforms_and_never_fails"]
    if args.seed is not None:
        cmd.append(f"--hypothesis-seed={args.seed}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    failed = sorted(set(re.findall(r"_{3,} test_api_conforms_and_never_fails\[([^\]]+)\]",
                                   out)))
    passed = re.search(r"(\d+) passed", out)
    n_failed = re.search(r"(\d+) failed", out)
    data = ("derandomized" if args.derandomize else
            f"seed {args.seed}" if args.seed is not None else "random")
    print(f"fuzz: {args.examples} examples per operation, {data} data")
    print(f"  operations passed   {passed.group(1) if passed else 0}")
    print(f"  operations failed   {n_failed.group(1) if n_failed else 0}")
    print(f"  wall time           {wall:.1f} s")
    for op in failed:
        print(f"  FAILED {op}")
    if proc.returncode != 0:
        print(out[-20000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
