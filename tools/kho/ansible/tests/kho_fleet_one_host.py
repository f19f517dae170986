#!/usr/bin/python3
"""One fleet host live-updated by the Ansible role, as `make check` runs it.

The `update` scenario of harness/fleet.py with a single host: QEMU boots
the host (SSH server, Python, one VM ticking), the playbook
tools/kho/ansible/playbooks/live-update.yml pre-checks, stages, finalizes
and kexecs it into the other kernel build, and post-checks it. The test
then checks from outside that the new kernel runs and the VM ticks on,
that every `kho-update status --json` the role gathered matches
tools/kho/kho-update-status.schema.json, and that a second run of the
playbook changes nothing. `make fleet` runs the three-host scenarios.
"""
import os
import sys

repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../../.."))
os.execv(sys.executable, [sys.executable, os.path.join(repo, "harness/fleet.py"),
                          "--hosts", "1", "--scenario", "update", *sys.argv[1:]])
