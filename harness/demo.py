#!/usr/bin/env python3
"""make demo: a running VM across a live update of its host kernel.

Boots the kho-v kernel in QEMU (TCG; the kernel under test runs a real KVM
guest, nested) and runs the demo scenario, demo/kho_demo.sh, through three
kernel boots: a plain kexec reboot to compare with, then a VMM whose guest
prints on its serial port is carried across a kexec by Live Update. Prints
the scenario's "demo:" lines, the guest's output around the update and a
summary made of the "demo-data:" figures.
"""
import argparse
import os
import re
import sys

import bench_report
import qemu
import vmconf


# the VMM's --backing, as the report names it
BACKING = {"hugetlb": "hugetlb memfd in 2 MiB pages",
           "thp": "shmem memfd in 2 MiB transparent huge pages",
           "shmem": "shmem memfd"}


def data(lines, prefix="demo-data:"):
    """key=value figures from the "demo-data:" lines; later ones win."""
    d = {}
    for line in lines:
        if prefix in line:
            for word in line.split(prefix, 1)[1].split():
                k, _, v = word.partition("=")
                d[k] = v
    return d


def num(d, key):
    try:
        return float(d[key])
    except (KeyError, ValueError):
        return None


def guest_lines(lines):
    return [l.split("# ", 1)[1].strip() for l in lines
            if re.match(r"^# guest( \d+)?: ", l)]


def where_it_went(log, d):
    """The blackout of the live update, phase by phase, from the kernel
    log lines and the VMM's TSC stamps (see harness/bench_report.py)."""
    boots = bench_report.parse_log(log)
    old = next((i for i, b in enumerate(boots) if b.quiesce and b.quiesce[0]), None)
    if old is None or old + 1 >= len(boots):
        return []
    r = bench_report.breakdown("demo", d, d, boots[old], boots[old + 1])
    # the first VM's: the passthrough VM is restored after it, by its own VMM
    kern = num(d, "blackout_kernel_ms")
    if kern:
        r["blackout"] = kern
        known = [r[k] for k in ("capture", "shutdown", "kexec_boot", "map", "restore")]
        r["first"] = kern - sum(known) if None not in known else None
    parts = [("capture", r["capture"]), ("kernel shutdown and jump", r["shutdown"]),
             ("kexec boot", r["kexec_boot"]), ("map check", r["map"]),
             ("VMM restore", r["restore"]), ("to the first guest instruction", r["first"])]
    out = [f"{v:8.0f} ms  {name}" for name, v in parts if v is not None]
    plain = num(d, "plain_ms")
    if r["shutdown"] is not None and r["kexec_boot"] is not None and r["blackout"] and plain:
        # a plain reboot shuts down and boots too; the rest is the update's
        added = r["blackout"] - r["shutdown"] - r["kexec_boot"]
        out.append(f"{added:8.0f} ms  added to a plain reboot by the live update: "
                   f"(plain + added) / plain = {(plain + added) / plain:.3f}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    os.makedirs(args.logdir, exist_ok=True)
    log = os.path.join(args.logdir, "kho_demo.log")
    demo_dir = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "demo"))
    entries, problems = vmconf.load(demo_dir)
    if problems or "kho_demo" not in entries:
        for p in problems or [f"no kho_demo in {demo_dir}/{vmconf.FILE}"]:
            print(f"error: {p}", file=sys.stderr)
        return 1
    vm = entries["kho_demo"]
    # three boots and a guest under nested KVM in TCG: more than one test
    timeout = max(args.timeout, int(vm["timeout"] or 0))

    print(f"==> Booting the kho-v host kernel under QEMU (TCG, q35, {vm['smp']} CPUs, "
          f"{vm['mem'][:-1]} {vm['mem'][-1]}iB)")
    print("    boot 1 times a plain kexec reboot; boot 2 runs a VM, and a second one")
    print("    with a passthrough device, and live-updates the kernel under them;")
    print("    boot 3 takes both VMs back (about a minute)")
    cmd = qemu.command(args.kernel, args.initrd, log,
                       append=f"kho_test=kho_demo {vm['cmdline']}".strip(),
                       mem=vm["mem"], smp=vm["smp"], extra=vm["qemu"])
    rc, timed_out, wall = qemu.run(cmd, log, timeout)
    if timed_out:
        print(f"demo: the VM did not finish within {timeout} s; log: {log}")
        return 1
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()

    report = [l.split("# demo:", 1)[1].rstrip() for l in lines if l.startswith("# demo:")]
    result = [l for l in lines if "kho-v: result kho_demo" in l]
    ok = bool(result) and result[-1].split()[3] == "ok"
    d = data(lines)

    # the guest's serial output just before the VM was quiesced, and after
    quiesced = next((i for i, l in enumerate(lines) if "kvm-kho: VM quiesced" in l), None)
    boot3 = next((i for i, l in enumerate(lines) if "kho-v: boot 3 " in l), None)
    before = guest_lines(lines[:quiesced])[-4:] if quiesced is not None else []
    after = guest_lines(lines[boot3:])[:5] if boot3 is not None else []

    print()
    print("kho-v live update demo: a running VM across a host kernel update")
    print("=================================================================")
    for r in report:
        print("  " + r.strip() if not r.startswith("   ") else "  " + r[1:])
    if before or after:
        print()
        print("  the guest's serial console around the update:")
        for l in before:
            print("      " + l)
        print("      ---- host kernel replaced by kexec; the VM kept its memory and state ----")
        for l in after:
            print("      " + l)

    plain = num(d, "plain_ms")
    kern = num(d, "blackout_kernel_ms")
    seen = num(d, "blackout_guest_ms")
    gap = num(d, "tick_gap_ms")
    if "copied" in d:
        print()
        print("  summary")
        print(f"    guest RAM preserved          {d.get('preserved_mib', '?')} MiB "
              f"({d.get('pages', '?')} 4 KiB pages of {BACKING.get(d.get('backing'), 'memfd')})")
        if d["copied"] == "0":
            print("    guest pages copied           0 (every page at the same physical "
                  "address, by /proc/self/pagemap)")
        else:
            print(f"    guest pages copied           {d['copied']}")
        if d.get("moved_at_preserve", "0") != "0":
            print(f"                                 (preserving had first moved "
                  f"{d['moved_at_preserve']} out of KHO scratch memory, while the guest ran)")
        if kern:
            print(f"    VM blackout                  {kern:.0f} ms (kernel: vCPU captured in "
                  "reboot() -> running again)")
        if seen:
            print(f"                                 {seen:.0f} ms as the guest's own clock saw it")
        if gap:
            print(f"                                 {gap:.0f} ms between its last tick before "
                  "and its first after")
        restore = num(d, "restore_ms")
        if restore:
            print(f"                                 of the blackout, {restore:.0f} ms were the "
                  "VMM's restore (retrieve, memslots, vCPUs)")
        if plain:
            print(f"    plain kexec reboot           {plain:.0f} ms (reboot() -> userspace, "
                  "same QEMU run, nothing preserved)")
        if plain and kern:
            print(f"    blackout / plain reboot      {kern / plain:.2f}")
        where = where_it_went(log, d)
        if where:
            print("    where the blackout went      " + where[0])
            for w in where[1:]:
                print("                                 " + w)
        if "pt_before" in d:
            print(f"    passthrough device (edu)     {d['pt_before']} DMA transfers driven and "
                  f"checked by its guest before the update, {d['pt_after']} by the end")
            if d.get("pt_never_reset") == "1":
                print("                                 never reset: its registers read back "
                      "what was left in them")
            ptb = num(d, "pt_blackout_ms")
            if ptb:
                print(f"                                 {ptb:.0f} ms blackout, as that guest's "
                      "clock saw it (its VMM restores after the first one's)")
    print()
    print(f"  QEMU run: {wall:.1f} s wall; under TCG every figure is emulated time, "
          "compare ratios")
    print(f"  serial log: {log}")
    print()
    if ok:
        print("RESULT: the VM survived the live kernel update")
    else:
        fails = [l.split("FAIL:", 1)[1].strip() for l in lines if "FAIL:" in l]
        why = fails[-1] if fails else (result[-1] if result else
                                       f"QEMU exited (status {rc}) without a result; see the log")
        print("RESULT: FAILED: " + why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
