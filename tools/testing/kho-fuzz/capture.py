#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turn a real handover, captured in QEMU, into fuzz seeds.

The kvm_kho_capture test preserves a running VM and memfds of each kind,
finalizes, and prints the records the next kernel would meet (the KHO test
module's kho/test/capture) in base64 on "kho-v: capture " lines of its
serial log. Each group of that capture is the input of one fuzz target:
its blocks, at their physical addresses in the QEMU guest.

A target's input is laid out in a small fake physical address space (see
env.h): the blocks list, then FUZZ_RAM_PAGES pages of RAM whose first page
holds the record the target starts from. So each block is moved, with its
bytes, to a RAM page (or, for blocks of 2 MiB and up, to the BIG area),
and every address in the captured bytes that names a captured block is
rewritten to the block's new place: little-endian 64-bit words at 8-byte
offsets (the records' own fields) and big-endian ones at 4-byte offsets
(FDT properties). Nothing else is changed, so the values the parsers check
(sizes, counts, orders, flags, names, vCPU state) are the kernel's own.

    capture.py LOG_OR_FILE OUTDIR [--check BINDIR]

writes OUTDIR/<target>/capture-<name> per group that fits, and with
--check runs each seed through its target (KHO_FUZZ_VERBOSE=1) and fails
unless the target accepts the record: a real handover must pass the same
checks in userspace as in the kernel.
"""
import argparse
import base64
import os
import re
import struct
import subprocess
import sys
import zlib

PAGE = 4096
RAM_PHYS = 16 << 20         # env.h: FUZZ_RAM_PHYS
RAM_PAGES = 16              # FUZZ_RAM_PAGES
BIG_PHYS = 32 << 20         # FUZZ_BIG_PHYS
BIG_SIZE = 4 << 20          # FUZZ_BIG_SIZE
NR_BLOCKS = 8               # FUZZ_NR_BLOCKS
MAGIC = 0x3130504143544b48  # lib/test_kho.c: KHO_TEST_CAP_MAGIC
TARGETS = ("luo_index", "memfd_record", "kvm_record")


def read_capture(path):
    data = open(path, "rb").read()
    if data[:8] == struct.pack("<Q", MAGIC):
        return data
    text = data.decode(errors="replace").replace("\r", "")
    b64 = "".join(m.group(1) for m in
                  re.finditer(r"^kho-v: capture (\S+)$", text, re.M))
    end = re.search(r"^kho-v: capture-end (\d+) ([0-9a-f]{8})$", text, re.M)
    if not b64 or not end:
        sys.exit(f"{path}: no whole capture in it")
    cap = base64.b64decode(b64)
    if len(cap) != int(end.group(1)) or \
            zlib.crc32(cap) != int(end.group(2), 16):
        sys.exit(f"{path}: the capture was damaged on the way "
                 f"({len(cap)} bytes, {end.group(1)} printed)")
    return cap


def groups(cap):
    if struct.unpack_from("<Q", cap)[0] != MAGIC:
        sys.exit("not a KHO test capture")
    off = 8
    while off < len(cap):
        target, name, nr, _ = struct.unpack_from("<16s48sII", cap, off)
        off += 72
        blocks = []
        for _ in range(nr):
            phys, order, length = struct.unpack_from("<QII", cap, off)
            off += 16
            blocks.append((phys, order, cap[off:off + length]))
            off += length
        yield (target.rstrip(b"\0").decode(), name.rstrip(b"\0").decode(),
               blocks)


def place(blocks):
    """New physical address of each block, or None if they do not fit."""
    ram = [False] * RAM_PAGES
    big = [False] * (BIG_SIZE // PAGE)
    new = []
    if len(blocks) > NR_BLOCKS:
        return None
    for i, (_, order, _) in enumerate(blocks):
        n = 1 << order
        pool, base = (ram, RAM_PHYS) if n <= 4 else (big, BIG_PHYS)
        start = 0 if i == 0 else next(
            (p for p in range(0, len(pool) - n + 1, n)
             if not any(pool[p:p + n])), None)
        if start is None or (i == 0 and pool is not ram):
            return None
        pool[start:start + n] = [True] * n
        new.append(base + start * PAGE)
    return new


def relocate(blocks, new):
    spans = [(phys, phys + (PAGE << order), to)
             for (phys, order, _), to in zip(blocks, new)]

    def moved(v):
        for lo, hi, to in spans:
            if lo <= v < hi:
                return to + (v - lo)
        return None

    out = []
    for _, _, data in blocks:
        buf = bytearray(data)
        for off in range(0, len(buf) - 7, 4):
            if off % 8 == 0:
                v = moved(struct.unpack_from("<Q", buf, off)[0])
                if v is not None:
                    struct.pack_into("<Q", buf, off, v)
                    continue
            v = moved(struct.unpack_from(">Q", buf, off)[0])
            if v is not None:
                struct.pack_into(">Q", buf, off, v)
        out.append(bytes(buf))
    return out


def seed(blocks):
    new = place(blocks)
    if new is None:
        return None
    hdr = bytearray(4 * NR_BLOCKS)
    ram = bytearray(RAM_PAGES * PAGE)
    for i, ((_, order, _), to, data) in enumerate(
            zip(blocks, new, relocate(blocks, new))):
        if to < BIG_PHYS:
            page = (to - RAM_PHYS) // PAGE
            ram[page * PAGE:page * PAGE + len(data)] = data
        else:
            if data:
                return None     # BIG reads as zero: it holds no bytes
            page = RAM_PAGES + (to - BIG_PHYS) // PAGE
        struct.pack_into("<HBB", hdr, 4 * i, page, order, 0)
    return (bytes(hdr) + bytes(ram)).rstrip(b"\0") or b"\0"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("outdir")
    ap.add_argument("--check", metavar="BINDIR")
    args = ap.parse_args()

    written, bad = [], []
    for target, name, blocks in groups(read_capture(args.capture)):
        if target not in TARGETS:
            continue
        data = seed(blocks)
        label = f"{target}/{name} ({len(blocks)} blocks)"
        if data is None:
            print(f"  skip   {label}: does not fit a fuzz input")
            continue
        fname = "capture-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        os.makedirs(os.path.join(args.outdir, target), exist_ok=True)
        path = os.path.join(args.outdir, target, fname)
        with open(path, "wb") as f:
            f.write(data)
        verdict = ""
        if args.check:
            proc = subprocess.run(
                [os.path.join(args.check, target), path],
                env={**os.environ, "KHO_FUZZ_VERBOSE": "1"},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            said = [l for l in proc.stdout.splitlines()
                    if "kho-fuzz: " in l or "runtime error" in l]
            verdict = said[0].split("kho-fuzz: ", 1)[-1] if said else \
                f"no verdict (status {proc.returncode})"
            if proc.returncode or not verdict.startswith("accepted"):
                bad.append(f"{label}: {verdict}")
            verdict = ": " + verdict
        print(f"  seed   {path}{verdict}")
        written.append(target)
    for t in TARGETS:
        if t not in written:
            bad.append(f"{t}: no record of the capture fits")
    for b in bad:
        print(f"FAIL: {b}")
    print(f"{len(written)} seeds written, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
