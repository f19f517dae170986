#!/bin/sh
# Damage the handover's fdt after finalize; the next kernel must refuse it.
. /tests/kho_lib.sh
WHAT=fdt
REASON="FDT checksum mismatch"
. /tests/kho_corrupt_lib.sh
