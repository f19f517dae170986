"""The QEMU launcher of kho-v: `make check`, `make bench` and `make demo`
boot their VMs through here, so there is one QEMU command line to change.

A VM is the kho-v kernel and the test initramfs on a q35 machine with the
`max` CPU (VMX for the nested KVM tests), TCG unless QEMU_ACCEL says
otherwise, the serial console written to a file, and no reboot: the test
init's `reboot -f` ends the QEMU run.
"""
import os
import shlex
import signal
import subprocess
import time

# Every boot: the serial console, and a kernel that stops on the first oops
# so that a test cannot pass on a wounded kernel.
BASE_CMDLINE = "console=ttyS0 panic=-1 oops=panic"


def command(kernel, initrd, serial_log, append="", mem="1G", smp="2", extra=()):
    """The QEMU command line for one VM, as a list.

    append is added to BASE_CMDLINE; extra are further QEMU options (devices,
    say), and a -machine among them replaces the default `-machine q35`.
    """
    extra = list(extra)
    machine = [] if {"-machine", "-M"} & set(extra) else ["-machine", "q35"]
    return ["qemu-system-x86_64", *machine,
            "-accel", os.environ.get("QEMU_ACCEL", "tcg"), "-cpu", "max",
            "-smp", str(smp), "-m", str(mem),
            "-display", "none", "-vga", "none", "-monitor", "none",
            "-serial", f"file:{serial_log}", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd,
            "-append", f"{BASE_CMDLINE} {append}".strip(), *extra]


def run(cmd, serial_log, timeout, stdout_is_log=False):
    """Run the VM of command() until it exits, or kill it after timeout s.

    QEMU's own output goes to SERIAL_LOG.qemu, after the command line; with
    stdout_is_log, CMD is a program whose output is the log itself.
    Returns (exit status or None if killed, timed out, wall seconds).
    """
    start = time.monotonic()
    with open(serial_log if stdout_is_log else serial_log + ".qemu", "w") as qerr:
        qerr.write(shlex.join(cmd) + "\n")
        qerr.flush()
        # a program of its own session, so that its VMs go with it
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=qerr, stderr=qerr,
                                start_new_session=stdout_is_log)
        try:
            rc, timed_out = proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            rc, timed_out = None, True
        finally:
            # a timeout, or an interrupted runner: leave no VM behind
            if stdout_is_log:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return rc, timed_out, time.monotonic() - start
