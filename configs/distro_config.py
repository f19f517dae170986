#!/usr/bin/python3
"""Debian's own 6.12 configs, with configs/kho-v.fragment, keep kho-v.

For each of Debian's amd64 and cloud-amd64 configs (package
linux-config-6.12): merge the fragment with the tree's merge_config.sh, run
olddefconfig in a scratch object directory, and check that KHO, Live Update
and KVM Live Update, and the iommufd and vfio-pci handover for
passthrough devices, stayed on next to what those configs chose for a large
host (deferred struct page init, NUMA, modular KVM, module signing, the
lockdown LSM). A Kconfig dependency that turns kho-v off in a distribution
config fails here. Runs on this machine, not in QEMU; $KHO_TREE is the
assembled tree (the top-level Makefile sets it).
"""
import argparse
import lzma
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--result", default="distro_config")
ap.add_argument("--check-config", metavar="CONFIG",
                help="only compare an olddefconfig'd .config with WANT "
                     "(make distro-check does, for the config it builds)")
args, _ = ap.parse_known_args()    # the runner's host options do not apply

TREE = os.environ.get("KHO_TREE", os.path.join(here, "..", "build", "tree"))
CONFIGS = "/usr/src/linux-config-6.12"
FLAVOURS = ["amd64_none_amd64", "amd64_none_cloud-amd64"]
# the value each option must come out with: y, m for modules as Debian
# builds them, n for off
WANT = {
    "KEXEC_HANDOVER": "y", "KEXEC_HANDOVER_DEBUGFS": "y", "LIVEUPDATE": "y",
    "LIVEUPDATE_MEMFD": "y", "KVM_KHO": "y", "CMA": "y",
    "DEFERRED_STRUCT_PAGE_INIT": "y", "NUMA": "y", "KVM": "m",
    "MODULE_SIG": "y", "SECURITY_LOCKDOWN_LSM": "y", "KEXEC_SIG": "y",
    "IOMMUFD": "m", "VFIO_PCI": "m", "VFIO_DEVICE_CDEV": "y",
    "IOMMUFD_LUO": "y", "INTEL_IOMMU_KHO": "y", "VFIO_PCI_KHO": "y",
    "INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON": "n",
}


def values(path):
    got = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("CONFIG_") and "=" in line:
                key, val = line[7:].split("=", 1)
                got[key] = val
    return got


def check(flavour, work):
    src = os.path.join(CONFIGS, f"config.{flavour}.xz")
    obj = os.path.join(work, flavour)
    os.makedirs(obj)
    with lzma.open(src, "rt") as f, open(os.path.join(obj, ".config"), "w") as out:
        out.write(f.read())
    for cmd in (["scripts/kconfig/merge_config.sh", "-m", "-O", obj,
                 os.path.join(obj, ".config"),
                 os.path.join(here, "kho-v.fragment")],
                ["make", "-s", f"O={obj}", "olddefconfig"]):
        proc = subprocess.run(cmd, cwd=TREE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode:
            print(proc.stdout)
            return [f"{' '.join(cmd[:2])} exited {proc.returncode}"]
    return compare(flavour, os.path.join(obj, ".config"))


def compare(name, config):
    got = values(config)
    bad = []
    for key, want in WANT.items():
        val = got.get(key, "n")
        line = f"{name}: CONFIG_{key}={val}"
        if val != want:
            bad.append(f"{line}, expected {want}")
            print("not ok:", bad[-1])
        else:
            print("ok:", line)
    return bad


if args.check_config:
    sys.exit(1 if compare(args.check_config, args.check_config) else 0)
if not os.path.isdir(CONFIGS):
    print(f"kho-v: result {args.result} fail {CONFIGS} is missing "
          "(apt-get install linux-config-6.12)", flush=True)
    sys.exit(1)
failed = []
with tempfile.TemporaryDirectory(prefix="kho-distro-") as work:
    for flavour in FLAVOURS:
        failed += check(flavour, work)
if failed:
    print(f"kho-v: result {args.result} fail {failed[0]}", flush=True)
    sys.exit(1)
print(f"kho-v: result {args.result} ok {len(FLAVOURS)} Debian configs keep "
      "kho-v with configs/kho-v.fragment", flush=True)
