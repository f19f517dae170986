#!/bin/sh
# kho-test: cmdline=kho=on
# kho-test: mem=2G
# Damage the handover's memmap after finalize; the next kernel must refuse it.
. /tests/kho_lib.sh
WHAT=memmap
REASON="memory map page outside usable memory"
. /tests/kho_corrupt_lib.sh
