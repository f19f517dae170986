#!/usr/bin/env python3
"""The VM-blackout benchmark's report: tables per guest-RAM backing and a chart.

bench/kvm_blackout runs once per backing (kvm_blackout: 2 MiB hugetlb,
kvm_blackout@thp: shmem in 2 MiB THPs, kvm_blackout@shmem: 4 KiB shmem),
each in one QEMU run whose serial console is its log: every kernel boot,
the test's "bench-data:" lines (the VMM's figures at the preserve and
after the restore, the plain reboots) and the kernels' own lines.

For each backing this prints the cases (blackout against a plain kexec
reboot timed in the same QEMU run), where the blackout went, and what
preserving guest RAM cost; and it writes kvm_blackout.png beside the
logs: blackout against guest RAM for the 1-VM cases, one line per
backing, drawn by gnuplot.

Where the blackout goes, from the kernels' log lines (the host TSC keeps
counting across a kexec in QEMU, so stamps of two kernels compare):
  capture        the old kernel quiescing the preserved files at the kexec
                 ("liveupdate: kexec: quiesced N files in U us, TSC T")
  shutdown       from there to the new kernel finding the handover
                 ("KHO: handover found at ADDR, TSC T"): shutdown and the jump
  kexec boot     from there to the VMM's start, less the map check
  map check      "KHO: incoming map: ... checked and reserved in U us"
  VMM restore    the VMM's start to its vCPUs created ("kvm-data:" TSCs)
  first instr    the rest of the blackout: to the vCPU running again
The blackout is the longest "vCPU N resumed, U us after it was stopped".
A figure whose log line is missing (an older kernel) prints as "-".

Timing is not judged here: the targets are printed beside the figures.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

BACKINGS = ("hugetlb", "thp", "shmem")
DEFAULT_BACKING = "hugetlb"
BACKING_TEXT = {
    "hugetlb": "hugetlb memfd, 2 MiB pages",
    "thp": "shmem memfd, 2 MiB transparent huge pages",
    "shmem": "shmem memfd, 4 KiB pages",
}
# The targets: blackout / plain reboot, per backing and case
RATIO_TARGET = {"hugetlb": 1.05, "thp": 1.05}
SHMEM_TARGET = (2048, 1.10)		# 4 KiB shmem: at 1 x 2 GiB
SCALE_TARGET = ("hugetlb", 1.03)	# blackout(4 GiB) / blackout(256 MiB)

KERNEL_BANNER = re.compile(r"Linux version \d")
RE = {
    "refined": re.compile(r"tsc: Refined TSC clocksource calibration: ([0-9.]+) MHz"),
    "detected": re.compile(r"tsc: Detected ([0-9.]+) MHz"),
    "handover": re.compile(r"KHO: handover found at \S+, TSC (\d+)"),
    "map_us": re.compile(r"checked and reserved in ([0-9]+) us"),
    "map_blocks": re.compile(r"KHO: incoming map: (\d+) blocks \((\d+) pages\)"),
    "quiesce": re.compile(r"liveupdate: kexec: quiesced (\d+) files in (\d+) us, TSC (\d+)"),
    "vcpus": re.compile(r"kvm-kho: VM quiesced: (\d+) vCPUs captured in (\d+) us \(VM (\S+)\)"),
    "finalized": re.compile(r"KHO: finalized in (\d+) us: FDT (\d+) bytes, "
                            r"(\d+) pages preserved, (\d+) metadata pages"),
    "resumed": re.compile(r"kvm-kho: \S+: vCPU \d+ resumed, (\d+) us after it was stopped"),
    "data": re.compile(r"bench-data: (run|restore|plain) (.*)$"),
}


def kv(text):
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


def num(d, key):
    try:
        return float(d[key])
    except (KeyError, ValueError):
        return None


class Boot:
    def __init__(self):
        self.mhz = None
        self.detected = None
        self.handover = None
        self.map_us = None
        self.map_blocks = None
        self.quiesce = None
        self.vcpus = []
        self.finalized = None
        self.resumed = []
        self.data = []


def parse_log(path):
    """The kernel boots of one QEMU run, in order."""
    boots = [Boot()]
    with open(path, errors="replace") as f:
        for line in f:
            if KERNEL_BANNER.search(line):
                boots.append(Boot())
            b = boots[-1]
            # the kho-update output repeats some kernel lines: "kernel: ..."
            echoed = "kernel: " in line
            m = RE["data"].search(line)
            if m:
                b.data.append((m.group(1), kv(m.group(2))))
                continue
            if (m := RE["refined"].search(line)):
                b.mhz = float(m.group(1))
            elif (m := RE["detected"].search(line)):
                b.detected = float(m.group(1))
            elif (m := RE["handover"].search(line)):
                b.handover = int(m.group(1))
            elif (m := RE["quiesce"].search(line)) and not echoed:
                b.quiesce = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            elif (m := RE["vcpus"].search(line)) and not echoed:
                b.vcpus.append(int(m.group(2)))
            elif (m := RE["finalized"].search(line)) and not echoed:
                b.finalized = tuple(int(g) for g in m.groups())
            elif (m := RE["resumed"].search(line)):
                b.resumed.append(int(m.group(1)))
            if "KHO: incoming map:" in line:
                if (m := RE["map_us"].search(line)):
                    b.map_us = int(m.group(1))
                if (m := RE["map_blocks"].search(line)):
                    b.map_blocks = (int(m.group(1)), int(m.group(2)))
    return [b for b in boots if b.data or b.mhz or b.handover or b.finalized]


def boot_hz(boot):
    mhz = boot.mhz or boot.detected
    return mhz * 1e6 if mhz else None


def cases_of(boots):
    """Each case: its run (old kernel) and restore (next kernel) sides."""
    plains, cases = [], {}
    for i, b in enumerate(boots):
        for kind, d in b.data:
            if kind == "plain":
                ms = num(d, "ms")
                if ms is not None:
                    plains.append(ms)
            elif kind == "run":
                cases.setdefault(d.get("case"), {})["run"] = (i, d)
            elif kind == "restore":
                cases.setdefault(d.get("case"), {})["restore"] = (i, d)
    out = []
    for n in sorted(cases, key=lambda c: int(c) if c and c.isdigit() else 0):
        c = cases[n]
        if "run" not in c:
            continue
        ri, run = c["run"]
        old = boots[ri]
        new = boots[c["restore"][0]] if "restore" in c else None
        out.append(breakdown(n, run, c.get("restore", (None, None))[1], old, new))
    return plains, out


def breakdown(n, run, rest, old, new):
    r = {"case": n, "run": run, "rest": rest or {}}
    vms = int(run.get("vms", 1))
    mib = int(run.get("preserved_mib", 0))
    r["vms"], r["mib"] = vms, mib
    rest = rest or {}
    r["blackout"] = num(rest, "blackout_kernel_ms")
    if new and new.resumed:
        r["blackout"] = max(new.resumed) / 1000.0
    r["guest"] = num(rest, "blackout_guest_ms")
    r["copied"] = rest.get("copied")
    r["restore"] = num(rest, "restore_ms")
    # the old kernel's rate; the VMM measured the same TSC there
    hz = boot_hz(old) or num(rest, "tsc_hz")
    r["hz"] = hz
    ms = (lambda ticks: ticks * 1000.0 / hz) if hz else (lambda ticks: None)

    r["map"] = new.map_us / 1000.0 if new and new.map_us else None
    r["map_blocks"] = new.map_blocks if new else None
    r["capture"] = old.quiesce[1] / 1000.0 if old.quiesce else None
    r["vcpu_capture"] = max(old.vcpus) / 1000.0 if old.vcpus else None
    r["finalized"] = old.finalized
    start = num(rest, "vmm_start_tsc")
    end = num(rest, "restore_end_tsc")
    if start and end:
        r["restore"] = ms(end - start)
    handover = new.handover if new else None
    r["shutdown"] = ms(handover - old.quiesce[2]) if handover and old.quiesce else None
    r["kexec_boot"] = None
    if handover and start:
        r["kexec_boot"] = ms(start - handover) - (r["map"] or 0)
    r["first"] = None
    if old.quiesce and end and r["blackout"] is not None:
        stopped = old.quiesce[2] - old.quiesce[1] * hz / 1e6
        r["first"] = r["blackout"] - ms(end - stopped)
    r["preserve"] = num(run, "preserve_ms")
    r["thp_mib"] = num(run, "thp_mib")
    return r


def size_text(mib):
    return f"{mib // 1024} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib} MiB"


def fmt_ms(v, width=8, digits=0):
    return f"{v:{width - 3}.{digits}f} ms" if v is not None else f"{'-':>{width}}"


def case_name(r):
    return f"{r['vms']} x {size_text(r['mib'] // max(r['vms'], 1))}"


def report_backing(backing, log, plains, cases):
    mean = (plains[0] + plains[-1]) / 2 if plains else None
    print(f"bench: {backing}: guest RAM in {BACKING_TEXT.get(backing, backing)} ({os.path.basename(log)})")
    if plains:
        print(f"bench: {backing}: plain kexec reboot, reboot() to userspace, nothing preserved: "
              f"{plains[0]:.0f} ms before the cases, {plains[-1]:.0f} ms after (mean {mean:.0f} ms)")
    print(f"bench: {'case':<12} {'preserved':>9} {'copied':>6} {'blackout':>11} {'guest saw':>10} "
          f"{'map check':>9} {'restore':>8} {'/ plain':>8}")
    for r in cases:
        r["ratio"] = r["blackout"] / mean if mean and r["blackout"] is not None else None
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(f"bench: {case_name(r):<12} {r['mib']:>5} MiB {r['copied'] or '-':>6} "
              f"{fmt_ms(r['blackout'], 11)} {fmt_ms(r['guest'], 10)} "
              f"{fmt_ms(r['map'], 9)} {fmt_ms(r['restore'], 8)} {ratio:>8}")
    print(f"bench: {backing}: where the blackout went")
    print(f"bench: {'case':<12} {'capture':>9} {'shutdown':>9} {'kexec boot':>10} "
          f"{'map check':>9} {'VMM restore':>11} {'first instr':>11} {'= blackout':>10} "
          f"{'vCPU capture':>12}")
    for r in cases:
        print(f"bench: {case_name(r):<12} {fmt_ms(r['capture'], 9)} {fmt_ms(r['shutdown'], 9)} "
              f"{fmt_ms(r['kexec_boot'], 10)} {fmt_ms(r['map'], 9)} "
              f"{fmt_ms(r['restore'], 11)} {fmt_ms(r['first'], 11)} "
              f"{fmt_ms(r['blackout'], 10)} {fmt_ms(r['vcpu_capture'], 12)}")
    print(f"bench: {backing}: preserving guest RAM")
    print(f"bench: {'case':<12} {'preserve':>10} {'per GiB':>10} {'moved':>7} {'pages':>8} "
          f"{'metadata':>9} {'bytes/GiB':>10} {'blocks in':>10} {'THP':>9}")
    for r in cases:
        gib = r["mib"] / 1024.0
        per = r["preserve"] / gib if r["preserve"] is not None and gib else None
        fin = r["finalized"]
        pages = f"{fin[2]}" if fin else "-"
        meta = f"{fin[3]} pg" if fin else "-"
        mbytes = f"{fin[3] * 4096 / gib:.0f}" if fin and gib else "-"
        blocks = f"{r['map_blocks'][0]}" if r["map_blocks"] else "-"
        thp = f"{r['thp_mib']:.0f} MiB" if r["thp_mib"] else "-"
        moved = r["run"].get("moved_at_preserve", "-")
        print(f"bench: {case_name(r):<12} {fmt_ms(r['preserve'], 10, 1)} "
              f"{fmt_ms(per, 10, 1)} {moved:>7} {pages:>8} {meta:>9} "
              f"{mbytes:>10} {blocks:>10} {thp:>9}")
    targets(backing, cases, mean)
    return mean


def targets(backing, cases, mean=None):
    one = {r["mib"]: r for r in cases if r["vms"] == 1}
    lines = []
    if backing in RATIO_TARGET:
        t = RATIO_TARGET[backing]
        got = [f"{case_name(r)} {r['ratio']:.2f}" for r in cases
               if r.get("ratio") is not None]
        worst = max((r["ratio"] for r in cases if r.get("ratio") is not None), default=None)
        if worst is not None:
            lines.append(f"blackout / plain <= {t:.2f} (target): {', '.join(got)}; "
                         f"{'all within' if worst <= t else 'above it at ' + format(worst, '.2f')}")
    if backing == "shmem" and SHMEM_TARGET[0] in one and one[SHMEM_TARGET[0]].get("ratio") is not None:
        v = one[SHMEM_TARGET[0]]["ratio"]
        lines.append(f"blackout / plain at 1 x 2 GiB <= {SHMEM_TARGET[1]:.2f} (target): {v:.2f}"
                     f"{'' if v <= SHMEM_TARGET[1] else ', above it'}")
    if (4096 in one and 256 in one and one[4096]["blackout"] and one[256]["blackout"]):
        v = one[4096]["blackout"] / one[256]["blackout"]
        tgt = (f" (target <= {SCALE_TARGET[1]:.2f}"
               f"{'' if v <= SCALE_TARGET[1] else ', above it'})" if backing == SCALE_TARGET[0] else "")
        lines.append(f"blackout(4 GiB) / blackout(256 MiB): {v:.3f}{tgt}")
    # What a live update adds to a plain reboot: everything but the shutdown
    # and the kexec boot, which a plain reboot does too, and which TCG
    # makes vary by seconds from one boot to the next.
    both = [r for r in cases if r.get("shutdown") is not None
            and r.get("kexec_boot") is not None and r["blackout"] is not None]
    if both and mean:
        for r in both:
            r["added"] = r["blackout"] - r["shutdown"] - r["kexec_boot"]
            r["added_ratio"] = (mean + r["added"]) / mean
        same = sum(r["shutdown"] + r["kexec_boot"] for r in both) / len(both)
        lines.append(f"shutdown + kexec boot, mean of the cases: {same:.0f} ms; the plain "
                     f"reboot, mean: {mean:.0f} ms ({same / mean:.2f})")
        added = [f"{case_name(r)} {r['added']:.0f} ms, {(mean + r['added']) / mean:.3f}"
                 for r in both]
        lines.append("added by the live update (capture + map check + VMM restore + first "
                     "instruction) and (plain + added) / plain: " + "; ".join(added))
        a = {r["mib"]: r for r in both if r["vms"] == 1}
        if 4096 in a and 256 in a:
            v = (mean + a[4096]["added"]) / (mean + a[256]["added"])
            lines.append(f"(plain + added(4 GiB)) / (plain + added(256 MiB)): {v:.3f}")
    for l in lines:
        print(f"bench: {backing}: {l}")


def chart(series, png):
    """blackout / plain and blackout in ms against guest RAM, per backing."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("bench: no chart: gnuplot is not installed (Debian package gnuplot-nox; "
              "`make packages` installs it)")
        return
    base = os.path.splitext(png)[0]
    datafiles = []
    for backing, points in series.items():
        if not points:
            continue
        path = f"{base}.{backing}.dat"
        with open(path, "w") as f:
            f.write("# guest_gib blackout_ms ratio added_ratio\n")
            for gib, ms, ratio, added in sorted(points):
                f.write(f"{gib} {ms:.1f} {ratio:.4f} "
                        f"{added if added is not None else 'NaN'}\n")
        datafiles.append((backing, path))
    if not datafiles:
        print("bench: no chart: no 1-VM case with a blackout in the logs")
        return
    res = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    terms = res.stdout + res.stderr
    term = "pngcairo size 1000,700 font ',10'" if "pngcairo" in terms else "png size 1000,700"
    plot_ratio = ", ".join(f"'{p}' using 1:3 with linespoints lw 2 lc {i + 1} title '{b}', "
                           f"'{p}' using 1:4 with linespoints lw 1 dt 2 lc {i + 1} "
                           f"title '{b}: (plain + added) / plain'"
                           for i, (b, p) in enumerate(datafiles))
    plot_ms = ", ".join(f"'{p}' using 1:2 with linespoints lw 2 title '{b}'"
                        for b, p in datafiles)
    script = f"""set terminal {term}
set output '{png}'
set multiplot layout 2,1 title 'VM blackout across a live kernel update (1 VM, 1 vCPU; QEMU TCG)'
set grid
set key top left
set xlabel 'guest RAM (GiB)'
set xtics (0.25, 1, 2, 4)
set xrange [0:4.25]
set ylabel 'blackout / plain kexec reboot'
set yrange [0:*]
set key bottom right
plot {plot_ratio}, 1.05 with lines dt 2 lc rgb 'gray40' title 'target 1.05 (hugetlb, THP)', \\
     1.10 with lines dt 3 lc rgb 'gray60' title 'target 1.10 (4 KiB shmem at 2 GiB)'
set ylabel 'blackout (ms)'
set yrange [0:*]
set key top left
plot {plot_ms}
unset multiplot
"""
    gp = f"{base}.gp"
    with open(gp, "w") as f:
        f.write(script)
    res = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if res.returncode:
        print(f"bench: gnuplot failed ({gp}): {res.stderr.strip()}")
    else:
        print(f"bench: chart: {png}")


def backing_of(log, boots):
    for b in boots:
        for kind, d in b.data:
            if d.get("backing"):
                return d["backing"]
    m = re.search(r"@([a-z0-9-]+)\.log$", log)
    return m.group(1) if m else DEFAULT_BACKING


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logdir", default="build/logs-bench")
    ap.add_argument("--since", help="only logs newer than this file")
    ap.add_argument("--png", help="the chart (default: LOGDIR/kvm_blackout.png)")
    ap.add_argument("logs", nargs="*", help="kvm_blackout logs (default: LOGDIR's)")
    args = ap.parse_args()

    logs = args.logs or sorted(glob.glob(os.path.join(args.logdir, "kvm_blackout*.log")))
    if args.since and os.path.exists(args.since):
        t = os.path.getmtime(args.since)
        logs = [l for l in logs if os.path.getmtime(l) >= t]
    if not logs:
        return 0
    runs = []
    for log in logs:
        boots = parse_log(log)
        runs.append((backing_of(log, boots), log, boots))
    order = {b: i for i, b in enumerate(BACKINGS)}
    runs.sort(key=lambda r: order.get(r[0], len(order)))

    print("bench: VM blackout across a live kernel update, per guest-RAM backing "
          "(harness/bench_report.py)")
    series = {}
    for backing, log, boots in runs:
        plains, cases = cases_of(boots)
        print("bench:")
        if not cases:
            print(f"bench: {backing}: no case in {log}")
            continue
        report_backing(backing, log, plains, cases)
        series[backing] = [(r["mib"] / 1024.0, r["blackout"], r["ratio"],
                            r.get("added_ratio")) for r in cases
                           if r["vms"] == 1 and r["blackout"] is not None
                           and r.get("ratio") is not None]
    print("bench:")
    print("bench: blackout: finalize/kexec capturing a vCPU to it running again (kernel, the "
          "longest); guest saw: the pause the guest's TSC showed; restore: VMM start to its "
          "vCPUs created; preserve: the VMM's preserve ioctls of guest RAM memfds (moved: 4 KiB pages "
          "it first migrated out of KHO scratch); metadata: "
          "pages of the preserved-memory map at finalize; blocks in: what the next kernel "
          "reserved (2 MiB folios make one block each)")
    print("bench: capture, shutdown, kexec boot, first instr need kernel log lines "
          "(liveupdate: kexec: quiesced, KHO: handover found): '-' where this kernel has none; "
          "map check '-': logged 0, its clock not running yet")
    print("bench: under TCG every time is emulated and the host is shared: compare ratios")
    chart(series, args.png or os.path.join(args.logdir, "kvm_blackout.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
