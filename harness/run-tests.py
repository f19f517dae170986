#!/usr/bin/env python3
"""Run kho-v tests under QEMU, one VM per test, and report KTAP.

Each test is a file under tests/ (or bench/). Its header may carry lines

    # kho-test: cmdline=kho=on kho_scratch=50%
    # kho-test: mem=2G smp=2 timeout=600
    # kho-test: variants=kexec-tools

A test with variants runs once as NAME and once per variant as
NAME@VARIANT; the kexec-tools variant does every kexec with Debian's
`kexec -s -l` + `kexec -e` instead of the harness's own loader.

The VM boots bzImage + the test initramfs with kho_test=NAME; the init in
the initramfs runs the test's stages across kexec boots and prints
`kho-v: result NAME ok|skip|fail REASON`. The serial log is kept per test.
A test fails if it says so, if no result appears before the timeout (the
VM is killed), or if the kernel printed a splat (oops, WARNING, KASAN,
lockdep, kmemleak) in any of its boots.
"""
import argparse
import concurrent.futures
import fnmatch
import os
import re
import sys

import qemu

SPLATS = re.compile(
    r"(Kernel panic|BUG:|WARNING:|Oops|general protection fault|"
    r"KASAN:|UBSAN:|unreferenced object|possible circular locking|"
    r"INFO: task .* blocked|rcu: INFO|kernel BUG at|Call Trace:)")


def parse_meta(path):
    meta = {"cmdline": "", "mem": "1G", "smp": "2", "timeout": None,
            "variants": ""}
    with open(path, errors="replace") as f:
        for line in f.readlines()[:40]:
            m = re.search(r"kho-test:\s*(.*)$", line)
            if not m:
                continue
            body = m.group(1).strip().rstrip("*/").strip()
            # "cmdline=" takes the rest of the line; other keys are words
            if body.startswith("cmdline="):
                val = body[len("cmdline="):].strip()
                meta["cmdline"] = (meta["cmdline"] + " " + val).strip()
                continue
            for word in body.split():
                k, _, v = word.partition("=")
                if k not in meta or k == "cmdline":
                    raise SystemExit(f"error: {path}: unknown kho-test key '{k}'")
                meta[k] = v
    return meta


VARIANT_CMDLINE = {"kexec-tools": "kho_loader=kexec-tools"}


def vm_command(args, name, meta, log, variant):
    # The debug kernel's boot allocations include the KASAN shadow; scale
    # scratch to 100% of them (the next kernel may use all three areas).
    # A test's own kho_scratch= comes later on the line and wins.
    debug = "kho_scratch=100% " if args.debug else ""
    append = f"{debug}kho_test={name} {meta['cmdline']}".strip()
    if variant:
        append += " " + VARIANT_CMDLINE[variant]
    mem = meta["mem"]
    if args.debug:
        # KASAN's shadow and quarantine: give the debug kernel twice the RAM
        mem = f"{int(mem[:-1]) * 2}{mem[-1]}"
    return qemu.command(args.kernel, args.initrd, log, append=append,
                        mem=mem, smp=meta["smp"])


def run_one(args, path, variant):
    name = os.path.splitext(os.path.basename(path))[0]
    meta = parse_meta(path)
    full = f"{name}@{variant}" if variant else name
    timeout = int(meta["timeout"] or args.timeout)
    if args.debug:
        timeout *= 4
    log = os.path.join(args.logdir, full + ".log")
    rc, timed_out, wall = qemu.run(vm_command(args, name, meta, log, variant),
                                   log, timeout)
    try:
        with open(log, errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []

    result, reason = None, ""
    for line in lines:
        m = re.search(r"kho-v: result (\S+) (ok|skip|fail)(.*)$", line)
        if m and m.group(1) == name:
            result, reason = m.group(2), m.group(3).strip()
    boots = sum(1 for l in lines if "kho-v: boot " in l)
    splats = [l for l in lines if SPLATS.search(l)]
    # A test's own diagnostics start with "# "; the reason they failed is the
    # last FAIL line they printed.
    fails = [l.split("# ", 1)[1] for l in lines if "# FAIL:" in l]

    if timed_out:
        status, why = "fail", f"no result after {timeout} s: VM killed"
    elif result is None:
        status, why = "fail", f"VM exited (qemu status {rc}) without a result"
    elif splats:
        status, why = "fail", f"kernel reported a problem: {splats[0].strip()}"
    elif result == "fail":
        status, why = "fail", fails[-1] if fails else reason
    else:
        status, why = result, reason
    return {"name": full, "status": status, "why": why, "log": log,
            "lines": lines, "wall": wall, "boots": boots}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--filter", default="")
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()

    tests = []
    for t in args.tests:
        name = os.path.splitext(os.path.basename(t))[0]
        tests.append((t, None, name))
        for v in parse_meta(t)["variants"].split():
            if v not in VARIANT_CMDLINE:
                print(f"error: {t}: unknown variant {v}", file=sys.stderr)
                return 1
            tests.append((t, v, f"{name}@{v}"))
    if args.filter:
        pat = args.filter if any(c in args.filter for c in "*?[") else f"*{args.filter}*"
        tests = [t for t in tests if fnmatch.fnmatch(t[2], pat)]
    if not tests:
        print(f"error: no test matches '{args.filter}'", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    os.makedirs(args.logdir, exist_ok=True)

    print("KTAP version 1")
    print(f"1..{len(tests)}")
    counts = {"ok": 0, "fail": 0, "skip": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(run_one, args, t, v) for t, v, _ in tests]
        for i, fut in enumerate(futs, 1):
            r = fut.result()
            counts[r["status"]] += 1
            print(f"# {r['name']}: {r['boots']} boot(s), {r['wall']:.1f} s, log {r['log']}")
            if args.bench:
                for l in r["lines"]:
                    if "# bench:" in l:
                        print("# " + l.split("# bench:", 1)[1].strip())
            if r["status"] == "ok":
                print(f"ok {i} {r['name']}")
            elif r["status"] == "skip":
                print(f"ok {i} {r['name']} # SKIP {r['why']}")
            else:
                print(f"# {r['name']} failed: {r['why']}")
                print(f"# last lines of {r['log']}:")
                for l in r["lines"][-25:]:
                    print("#   " + l)
                print(f"not ok {i} {r['name']}")
            sys.stdout.flush()
    print(f"# logs: {args.logdir}")
    print(f"{counts['ok']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
