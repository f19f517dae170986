#!/bin/sh
# kho-test: cmdline=kho=on
# kho-test: mem=2G
# Damage the handover's fdt after finalize; the next kernel must refuse it.
. /tests/.lib.sh
WHAT=fdt
REASON="FDT checksum mismatch"
. /tests/.kho-corrupt.sh
