#!/usr/bin/env python3
"""Run kho-v tests under QEMU, one VM per test, and report KTAP.

Each test is a file (NAME.sh, or NAME.c built into NAME) in a test
directory: tools/testing/selftests/{kho,liveupdate,kvm/kho,iommu/kho}/
or bench/; or a NAME.py (tools/kho/ansible/tests/) that runs on this machine and
boots its own QEMU hosts through harness/fleet.py, which gets
--fleet-args.
What it needs from QEMU (memory, CPUs, timeout, kernel command line,
machine options and devices, variants) is its line in that directory's
vm.conf; see harness/vmconf.py. A test given here without a line there,
or a line there without its test, is an error and nothing is run.

A test with variants runs once as NAME and once per variant as
NAME@VARIANT; the kexec-tools variant does every kexec with Debian's
`kexec -s -l` + `kexec -e` instead of the harness's own loader; prod boots
every stage on the production-shaped kernel (--prod-kernel, in the
initramfs as /boot/prod); cross starts on the test kernel and alternates
test -> prod -> test at each kexec (kho_next=, see harness/init): the
update to a different kernel. Without --prod-kernel (DEBUG=1 builds no
such kernel) prod and cross are reported as skipped. --every-variant V
runs each QEMU test as NAME@V too. Any other variant V is the test's own
and reaches it as kho_variant=V on the kernel command line.

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
import shlex
import sys

import qemu
import vmconf

SPLATS = re.compile(
    r"(Kernel panic|BUG:|WARNING:|Oops|general protection fault|"
    r"KASAN:|UBSAN:|unreferenced object|possible circular locking|"
    r"INFO: task .* blocked|rcu: INFO|kernel BUG at|Call Trace:)")


VARIANT_CMDLINE = {"kexec-tools": "kho_loader=kexec-tools",
                   # each kexec into the other kernel of the two (harness/init)
                   "prod": "kho_next=prod", "cross": "kho_next=prod"}
# The variants that need the production-shaped kernel; prod boots it too
PROD_VARIANTS = ("prod", "cross")
# Any other variant is the test's own: the test reads kho_variant=V from
# its command line (bench/kvm_blackout: which memory backs guest RAM).
VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def variant_cmdline(variant):
    return VARIANT_CMDLINE.get(variant, f"kho_variant={variant}")

# How much longer everything takes on the debug kernel (KASAN, lockdep).
DEBUG_SLOWDOWN = 4


def vm_mem(args, entry):
    """Guest RAM: on the debug kernel debug_mem=, or by default twice mem=
    for KASAN's shadow and quarantine."""
    mem = entry["mem"]
    if not args.debug:
        return mem
    return entry["debug_mem"] or f"{int(mem[:-1]) * 2}{mem[-1]}"


def vm_command(args, name, entry, log, variant):
    append = f"kho_test={name} {entry['cmdline']}".strip()
    if variant:
        append += " " + variant_cmdline(variant)
    mem = vm_mem(args, entry)
    kernel = args.prod_kernel if variant == "prod" else args.kernel
    return qemu.command(kernel, args.initrd, log, append=append,
                        mem=mem, smp=entry["smp"], extra=entry["qemu"])


def test_timeout(args, entry):
    timeout = int(entry["timeout"] or args.timeout)
    return timeout * DEBUG_SLOWDOWN if args.debug else timeout


def controller_command(args, path, name, entry):
    """A NAME.py test runs here and boots its own QEMU hosts
    (harness/fleet.py); its output is its log, the hosts' serial logs go
    in a directory beside it."""
    mem = vm_mem(args, entry)
    slow = []
    if args.debug:
        # the debug kernel boots and runs a VM several times slower; the
        # fleet's own waits grow as the test's timeout does
        slow = ["--debug-slowdown", str(DEBUG_SLOWDOWN)]
    return ["/usr/bin/python3", path, *shlex.split(args.fleet_args),
            "--logdir", os.path.join(args.logdir, name), "--result", name,
            "--mem", mem, "--smp", entry["smp"], *slow]


def wrong_kernel(lines, variant):
    """For prod and cross: the first boot that ran the wrong kernel (the
    init prints each boot's release), or None."""
    if variant not in PROD_VARIANTS:
        return None
    boots = [m.groups() for m in
             (re.search(r"kho-v: boot (\d+) .* kernel (\S+)", l) for l in lines) if m]
    for stage, release in boots:
        want = "test" if variant == "cross" and int(stage) % 2 else "prod"
        if release.endswith("-prod") != (want == "prod"):
            return f"boot {stage} ran {release}, expected the {want} kernel"
    return None


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def run_one(args, path, name, entry, variant, full):
    timeout = test_timeout(args, entry)
    log = os.path.join(args.logdir, full + ".log")
    serials = []
    if path.endswith(".py"):
        cmd = controller_command(args, path, name, entry)
        rc, timed_out, wall = qemu.run(cmd, log, timeout, stdout_is_log=True)
        hostdir = os.path.join(args.logdir, name)
        serials = sorted(os.path.join(hostdir, f) for f in os.listdir(hostdir)
                         if f.endswith(".serial.log")) if os.path.isdir(hostdir) else []
    else:
        rc, timed_out, wall = qemu.run(vm_command(args, name, entry, log, variant),
                                       log, timeout)
    lines = read_lines(log)
    # a kernel splat on any host fails the test too
    host_lines = [l for s in serials for l in read_lines(s)]

    result, reason = None, ""
    for line in lines:
        m = re.search(r"kho-v: result (\S+) (ok|skip|fail)(.*)$", line)
        if m and m.group(1) == name:
            result, reason = m.group(2), m.group(3).strip()
    boots = sum(1 for l in lines + host_lines
                if "kho-v: boot " in l or re.search(r"kho-fleet: \S+: up", l))
    splats = [l for l in (host_lines if serials else lines) if SPLATS.search(l)]
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
    elif wrong_kernel(lines, variant):
        status, why = "fail", wrong_kernel(lines, variant)
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
    ap.add_argument("--prod-kernel", default="",
                    help="the production-shaped bzImage, for the prod and "
                    "cross variants (its initramfs must carry /boot/prod)")
    ap.add_argument("--every-variant", action="append", default=[],
                    metavar="V", help="run every QEMU test as NAME@V too")
    ap.add_argument("--fleet-args", default="",
                    help="harness/fleet.py's arguments, for NAME.py tests")
    ap.add_argument("--dry-run", action="store_true",
                    help="print each test's QEMU command line, run nothing")
    ap.add_argument("tests", nargs="*", help="test sources (NAME.sh, NAME.c)")
    args = ap.parse_args()

    found, problems = vmconf.lookup(args.tests)
    tests = []
    for path, name, entry in found:
        tests.append((path, name, entry, None, name))
        variants = list(entry["variants"])
        if not path.endswith(".py"):
            variants += [v for v in args.every_variant if v not in variants]
        for v in variants:
            if v not in VARIANT_CMDLINE and not VARIANT_NAME.match(v):
                problems.append(f"{path}: variant {v}: not one of "
                                f"{', '.join(VARIANT_CMDLINE)}, nor a name "
                                "of lower-case letters, digits and '-'")
            tests.append((path, name, entry, v, f"{name}@{v}"))
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"error: {len(problems)} problem(s) with the tests' vm.conf; "
              "nothing run", file=sys.stderr)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    if args.filter:
        # comma-separated patterns; one without wildcards matches anywhere
        pats = [p if any(c in p for c in "*?[") else f"*{p}*"
                for p in args.filter.split(",") if p]
        tests = [t for t in tests
                 if any(fnmatch.fnmatch(t[4], p) for p in pats)]
    if not tests:
        print(f"error: no test matches '{args.filter}'", file=sys.stderr)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    no_prod = ("no production-shaped kernel with DEBUG=1" if args.debug else
               "no production-shaped kernel given (--prod-kernel; make check PROD=1)")
    if args.dry_run:
        for path, name, entry, variant, full in tests:
            if variant in PROD_VARIANTS and not args.prod_kernel:
                print(f"{full}: skipped: {no_prod}")
                continue
            log = os.path.join(args.logdir, full + ".log")
            cmd = (controller_command(args, path, name, entry)
                   if path.endswith(".py") else
                   vm_command(args, name, entry, log, variant))
            print(f"{full}: timeout {test_timeout(args, entry)} s: {shlex.join(cmd)}")
        return 0
    os.makedirs(args.logdir, exist_ok=True)

    print("KTAP version 1")
    print(f"1..{len(tests)}")
    counts = {"ok": 0, "fail": 0, "skip": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [None if t[3] in PROD_VARIANTS and not args.prod_kernel
                else ex.submit(run_one, args, *t) for t in tests]
        for i, fut in enumerate(futs, 1):
            if fut is None:
                counts["skip"] += 1
                print(f"ok {i} {tests[i - 1][4]} # SKIP {no_prod}")
                sys.stdout.flush()
                continue
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
