#!/usr/bin/env python3
"""make demo: boot the kho-v kernel in QEMU, live-update it, print a report.

Runs the demo scenario (demo/kho-demo.sh in the initramfs) in one VM and
turns the lines it prints with a "# demo:" prefix into a short report.
"""
import argparse
import os
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    os.makedirs(args.logdir, exist_ok=True)
    log = os.path.join(args.logdir, "kho-demo.log")

    print("==> Booting the kho-v host kernel under QEMU (TCG, q35, 2 vCPUs, 2 GiB)")
    print("    it preserves memory, kexecs into a new kernel and checks what survived")
    cmd = ["qemu-system-x86_64", "-machine", "q35",
           "-accel", os.environ.get("QEMU_ACCEL", "tcg"), "-cpu", "max",
           "-smp", "2", "-m", "2G", "-display", "none", "-vga", "none",
           "-monitor", "none", "-serial", f"file:{log}", "-no-reboot",
           "-kernel", args.kernel, "-initrd", args.initrd,
           "-append", "console=ttyS0 panic=-1 oops=panic kho=on kho_test=kho-demo"]
    start = time.monotonic()
    try:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, timeout=args.timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        print(f"demo: the VM did not finish within {args.timeout} s; log: {log}")
        return 1
    wall = time.monotonic() - start
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()

    report = [l.split("# demo:", 1)[1].strip() for l in lines if "# demo:" in l]
    result = [l for l in lines if "kho-v: result kho-demo" in l]
    print()
    print("kho-v live update demo")
    print("======================")
    for r in report:
        print("  " + r)
    print(f"  QEMU run: {wall:.1f} s wall (TCG emulation; a real host is far faster)")
    print(f"  serial log: {log}")
    ok = bool(result) and result[-1].split()[3] == "ok"
    print()
    print("RESULT: " + ("the preserved state survived the kernel update" if ok
                        else "FAILED: " + (result[-1] if result else "no result; see the log")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
