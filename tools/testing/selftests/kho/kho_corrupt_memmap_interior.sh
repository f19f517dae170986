#!/bin/sh
# Point a slot inside the memory map's tables outside RAM (the handover
# page's checksum still holds); the next kernel must refuse it before it
# follows that slot, and boot.
. /tests/kho_lib.sh
WHAT=memmap-interior
REASON="memory map page outside usable memory"
. /tests/kho_corrupt_lib.sh
