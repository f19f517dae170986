#!/usr/bin/python3
"""Replay every fuzz seed and regression input, as `make check` runs it.

Each file under corpus/<target>/ and regressions/<target>/ goes through its
target once (replay.sh); any crash, hang, sanitizer report or broken
invariant fails the test and is quoted. Runs on this machine, not in QEMU:
the targets are the kernel's parsers built in userspace (see Makefile).
The make variables that locate the kernel tree (KTREE, KOBJ, O) come from
$KHO_FUZZ_VARS, which the top-level Makefile sets; by hand the defaults
of this directory's Makefile apply.
"""
import argparse
import os
import shlex
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--result", default="fuzz_replay")
args, _ = ap.parse_known_args()    # the runner's host options do not apply

cmd = ["make", "--no-print-directory", "-C", here,
       *shlex.split(os.environ.get("KHO_FUZZ_VARS", "")), "replay"]
print("#", shlex.join(cmd), flush=True)
proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      text=True)
sys.stdout.write(proc.stdout)
failed = [l for l in proc.stdout.splitlines() if l.startswith("not ok")]
summary = [l for l in proc.stdout.splitlines() if " passed, " in l]
if proc.returncode or failed or not summary:
    why = failed[0] if failed else f"make exited {proc.returncode}"
    print(f"kho-v: result {args.result} fail {why}", flush=True)
    sys.exit(1)
print(f"kho-v: result {args.result} ok {summary[-1]}", flush=True)
