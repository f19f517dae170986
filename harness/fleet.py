#!/usr/bin/python3
"""`make fleet`: a rolling live update of a fleet of QEMU hosts with Ansible.

Each host is a QEMU VM (TCG) running the kho-v kernel with the fleet
initramfs (harness/mkfleetimage.sh): an SSH server on a 127.0.0.1 port
(QEMU user networking), Python for Ansible's modules, and one VM ticking
(harness/fleet-init). The controller is this machine: it runs the playbook
tools/kho/ansible/playbooks/live-update.yml against the hosts, to a second
kernel image (the same kernel with another build number), and checks what
happened from outside, over SSH.

Scenarios:
  update     every host ends on the new kernel with its VM still ticking;
             a second run of the playbook changes nothing
  precheck   host 2 runs a VM nobody preserves, so it fails its pre-check:
             host 1 is updated, host 2 is left as it was with its VM
             running, host 3 is never started, and the playbook fails
             saying why

Runs under Debian's /usr/bin/python3 (python3-jsonschema checks each
`kho-update status --json` the role gathered against its schema).
With --result NAME it ends with the line `kho-v: result NAME ok|fail WHY`,
which is how `make check` runs its one-host version.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSIBLE_DIR = os.path.join(REPO, "tools/kho/ansible")
SCHEMA = os.path.join(REPO, "tools/kho/kho-update-status.schema.json")


class Failed(Exception):
    pass


def log(msg):
    print(f"fleet: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bzimage_version(path):
    out = subprocess.run([sys.executable, os.path.join(
        ANSIBLE_DIR, "roles/kho_update/files/bzimage-version"), path],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


class Host:
    def __init__(self, args, index, fault=None):
        self.args = args
        self.name = f"host{index}"
        self.port = free_port()
        self.serial = os.path.join(args.logdir, f"{self.name}.serial.log")
        append = " ".join(filter(None, ["kho=on", args.append,
                                        f"kho_fleet_host={self.name}"]))
        if fault:
            append += f" kho_fleet_fault={fault}"
        self.cmd = qemu.command(
            args.kernel, args.image, self.serial, append=append,
            mem=args.mem, smp=args.smp,
            extra=["-nic", f"user,model=virtio-net-pci,"
                   f"hostfwd=tcp:127.0.0.1:{self.port}-:22"])
        self.proc = None

    def boot(self):
        with open(self.serial + ".qemu", "w") as qerr:
            qerr.write(" ".join(self.cmd) + "\n")
            qerr.flush()
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=qerr, stderr=qerr)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def ssh(self, command, check=True, timeout=60):
        cmd = ["ssh", "-i", self.args.key, "-p", str(self.port),
               "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "ConnectTimeout=10", "-o", "BatchMode=yes",
               "root@127.0.0.1", command]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode:
            raise Failed(f"{self.name}: `{command}` exited {r.returncode}: "
                         f"{(r.stderr or r.stdout).strip()}")
        return r

    def serial_text(self):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_up(self, timeout):
        """Until its VM runs and SSH answers."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise Failed(f"{self.name}: QEMU exited ({self.proc.returncode})"
                             f"; see {self.serial}")
            if f"kho-fleet: {self.name}: up" in self.serial_text():
                try:
                    if not self.ssh("test -f /run/vm0.ready", check=False,
                                    timeout=30).returncode:
                        return
                except subprocess.TimeoutExpired:
                    pass
            time.sleep(2)
        raise Failed(f"{self.name}: not up with its VM after {timeout} s; "
                     f"see {self.serial}")

    def status(self):
        return json.loads(self.ssh("kho-update status --json").stdout)

    def ticking(self):
        r = self.ssh("kho-fleet-health", check=False, timeout=60)
        return r.returncode == 0, (r.stdout + r.stderr).strip()


def write_inventory(args, hosts, path, report_dir):
    with open(path, "w") as f:
        f.write("# written by harness/fleet.py\n[kho_hosts]\n")
        for h in hosts:
            f.write(f"{h.name} ansible_host=127.0.0.1 ansible_port={h.port}\n")
        f.write(f"""
[kho_hosts:vars]
ansible_user=root
ansible_ssh_private_key_file={args.key}
ansible_ssh_common_args='-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR'
kho_update_kernel_src={args.next_kernel}
kho_update_kernel_dest=/run/vmlinuz-next
kho_update_initrd=/run/initrd-next.cpio
kho_update_prepare_cmd=kho-fleet-pack /run/initrd-next.cpio
kho_update_health_cmd=kho-fleet-health
kho_update_report_dir={report_dir}
""")


def playbook(args, inventory, tag):
    """Run the playbook; returns (exit status, its output)."""
    out_path = os.path.join(args.logdir, f"ansible-{tag}.log")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ANSIBLE_DIR, "ansible.cfg"),
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    cmd = ["ansible-playbook", "-i", inventory,
           os.path.join(ANSIBLE_DIR, "playbooks/live-update.yml")]
    log(f"$ {' '.join(cmd)}  (output: {out_path})")
    lines = []
    with open(out_path, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                cwd=ANSIBLE_DIR)
        for line in proc.stdout:
            f.write(line)
            lines.append(line.rstrip("\n"))
            if args.verbose or re.match(r"^(TASK|PLAY|fatal|ok|changed|failed|"
                                        r"\S+\s+: ok=)", line) or "msg" in line:
                print(f"  ansible| {line.rstrip()}", flush=True)
        rc = proc.wait(timeout=args.timeout)
    return rc, lines


def recap(lines):
    """{host: {ok: N, changed: N, failed: N, ...}} from PLAY RECAP."""
    out = {}
    for line in lines:
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line)
        if m and "ok=" in m.group(2):
            out[m.group(1)] = {k: int(v) for k, v in
                               re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def check_schema(reports):
    import jsonschema
    with open(SCHEMA) as f:
        schema = json.load(f)
    n = 0
    for host, rep in reports.items():
        for key in ("status_before", "status_after"):
            if rep.get(key):
                try:
                    jsonschema.validate(rep[key], schema)
                except jsonschema.ValidationError as e:
                    raise Failed(f"{host}: {key} does not match "
                                 f"{os.path.relpath(SCHEMA, REPO)}: {e.message} "
                                 f"at {list(e.absolute_path)}")
                n += 1
    return n


def read_reports(report_dir):
    reports = {}
    for name in sorted(os.listdir(report_dir)):
        if name.endswith(".json"):
            with open(os.path.join(report_dir, name)) as f:
                reports[name[:-5]] = json.load(f)
    return reports


def boot_fleet(args, count, faults):
    hosts = [Host(args, i + 1, faults.get(i + 1)) for i in range(count)]
    log(f"booting {count} host{'s' if count > 1 else ''} under QEMU "
        f"({args.mem} RAM, {args.smp} CPU each): "
        + ", ".join(f"{h.name} on ssh port {h.port}" for h in hosts))
    for h in hosts:
        h.boot()
    start = time.monotonic()
    for h in hosts:
        h.wait_up(args.boot_timeout)
    log(f"all up with their VM ticking in {time.monotonic() - start:.0f} s")
    return hosts


def table(reports, hosts):
    rows = [("host", "result", "kernel before", "kernel after", "VMs",
             "blackout")]
    for h in hosts:
        r = reports.get(h.name)
        if not r:
            rows.append((h.name, "not started", "-", "-", "-", "-"))
            continue
        bl = ", ".join(f"{float(b):.0f} ms" for b in r["blackout_ms"]) or "-"
        rows.append((h.name, r["result"], short(r["kernel_before"]),
                     short(r["kernel_after"]) or "-", str(r["vms_carried"]), bl))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
           for r in rows]
    for h in hosts:
        r = reports.get(h.name)
        if r and r["reason"]:
            out.append(f"{h.name}: {r['reason']}")
    return out


def short(version):
    """"6.12.117 #4 SMP 2026-..." -> "6.12.117 #4"."""
    m = re.match(r"^(\S+) (#\d+)", version or "")
    return f"{m.group(1)} {m.group(2)}" if m else (version or "")


def scenario_update(args, count, old, new):
    report_dir = os.path.join(args.logdir, "report-update")
    shutil.rmtree(report_dir, ignore_errors=True)
    os.makedirs(report_dir)
    hosts = boot_fleet(args, count, {})
    try:
        inv = os.path.join(args.logdir, "inventory-update.ini")
        write_inventory(args, hosts, inv, report_dir)
        rc, lines = playbook(args, inv, "update")
        if rc:
            raise Failed(f"the playbook failed (exit {rc}); see "
                         f"{args.logdir}/ansible-update.log")
        reports = read_reports(report_dir)
        for h in hosts:
            st = h.status()
            if not new.endswith(") " + st["kernel"]["version"]):
                raise Failed(f"{h.name} runs {st['kernel']['version']}, "
                             f"not the new kernel ({new})")
            ok, why = h.ticking()
            if not ok:
                raise Failed(f"{h.name}: its VM is not ticking after the "
                             f"update: {why}")
            r = reports.get(h.name)
            if not r or r["result"] != "updated" or int(r["vms_carried"]) != 1:
                raise Failed(f"{h.name}: report {r}")
            log(f"{h.name}: on {short(new.split(' (')[0] + ' ' + st['kernel']['version'])}, "
                f"VM ticking ({why})")
        n = check_schema(reports)
        log(f"{n} `kho-update status --json` outputs match "
            f"{os.path.relpath(SCHEMA, REPO)}")
        log("report:")
        for line in table(reports, hosts):
            print(f"  {line}", flush=True)

        # a second run changes nothing
        for name in os.listdir(report_dir):
            os.unlink(os.path.join(report_dir, name))
        rc, lines = playbook(args, inv, "update-again")
        rec = recap(lines)
        if rc or any(rec.get(h.name, {}).get("changed", 1) for h in hosts):
            raise Failed(f"the second run was not a no-op (exit {rc}, "
                         f"recap {rec})")
        log("a second run on the updated hosts changed nothing: "
            + ", ".join(f"{h}: changed={v.get('changed')}" for h, v in rec.items()))
    finally:
        for h in hosts:
            h.stop()


def scenario_precheck(args, old, new):
    report_dir = os.path.join(args.logdir, "report-precheck")
    shutil.rmtree(report_dir, ignore_errors=True)
    os.makedirs(report_dir)
    hosts = boot_fleet(args, 3, {2: "extra-vm"})
    try:
        inv = os.path.join(args.logdir, "inventory-precheck.ini")
        write_inventory(args, hosts, inv, report_dir)
        rc, lines = playbook(args, inv, "precheck")
        text = "\n".join(lines)
        if rc == 0:
            raise Failed("the playbook succeeded although host2 must fail "
                         "its pre-check")
        m = re.search(r"pre-check failed[^\"\n]*", text)
        if not m or "preserved" not in m.group(0):
            raise Failed("the playbook's failure does not give the pre-check's "
                         "reason (a VM not preserved)")
        log(f"the playbook failed (exit {rc}): {m.group(0)}")
        reports = read_reports(report_dir)
        s1, s2, s3 = (h.status() for h in hosts)
        if not new.endswith(") " + s1["kernel"]["version"]):
            raise Failed("host1 was not updated before host2 failed")
        for h, st in ((hosts[1], s2), (hosts[2], s3)):
            if not old.endswith(") " + st["kernel"]["version"]):
                raise Failed(f"{h.name} left its old kernel")
            if st["kho"]["finalized"] or st["staged"]["loaded"]:
                raise Failed(f"{h.name} was left finalized or with a kernel "
                             f"staged: {st['kho']} {st['staged']}")
            ok, why = h.ticking()
            if not ok:
                raise Failed(f"{h.name}: its VM stopped: {why}")
        if reports.get("host2", {}).get("result") != "aborted":
            raise Failed(f"host2's report: {reports.get('host2')}")
        if "host3" in reports:
            raise Failed("host3 was started")
        log("host1 updated; host2 aborted at its pre-check, VM running on "
            "the old kernel; host3 never started")
        log("report:")
        for line in table(reports, hosts):
            print(f"  {line}", flush=True)
    finally:
        for h in hosts:
            h.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True, help="the hosts' kernel")
    ap.add_argument("--next-kernel", required=True, help="the kernel to update to")
    ap.add_argument("--image", required=True, help="the fleet host initramfs")
    ap.add_argument("--key", required=True, help="the controller's SSH key")
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--scenario", action="append", choices=["update", "precheck"])
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--smp", default="1")
    ap.add_argument("--append", default="",
                    help="more kernel command line for every host")
    ap.add_argument("--boot-timeout", type=int, default=300)
    ap.add_argument("--debug-slowdown", type=int, default=1,
                    help="multiply the boot and playbook timeouts by this")
    ap.add_argument("--timeout", type=int, default=1200)
    ap.add_argument("--result", help="end with `kho-v: result NAME ...`")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    args.boot_timeout *= args.debug_slowdown
    args.timeout *= args.debug_slowdown
    for a in ("kernel", "next_kernel", "image", "key", "logdir"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    os.makedirs(args.logdir, exist_ok=True)
    scenarios = args.scenario or ["update", "precheck"]

    old, new = bzimage_version(args.kernel), bzimage_version(args.next_kernel)
    log(f"hosts boot {old}; the update brings {new}")
    if old == new:
        print("fleet: error: the two kernels have the same version string",
              file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        for s in scenarios:
            log(f"--- scenario {s} ---")
            if s == "update":
                scenario_update(args, args.hosts, old, new)
            else:
                scenario_precheck(args, old, new)
            log(f"scenario {s}: passed")
    except (Failed, subprocess.TimeoutExpired) as e:
        log(f"FAIL: {e}")
        if args.result:
            print(f"kho-v: result {args.result} fail {e}")
        return 1
    log(f"all scenarios passed in {time.monotonic() - start:.0f} s")
    if args.result:
        print(f"kho-v: result {args.result} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
