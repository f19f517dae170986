#!/bin/sh
# kho-test: cmdline=kho=on
# kho-test: mem=2G
# Damage the handover's fdt after finalize; the next kernel must refuse it.
. /tests/kho_lib.sh
WHAT=fdt
REASON="FDT checksum mismatch"
. /tests/kho_corrupt_lib.sh
