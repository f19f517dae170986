#!/bin/sh
# Damage the handover's memmap after finalize; the next kernel must refuse it.
. /tests/kho_lib.sh
WHAT=memmap
REASON="memory map page outside usable memory"
. /tests/kho_corrupt_lib.sh
