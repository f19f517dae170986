#!/bin/sh
# Point one order's memory map root at another order's map, with a valid
# checksum: one page with two parents, which the next kernel must refuse.
. /tests/kho_lib.sh
WHAT=memmap-other
REASON="memory map page reached twice"
. /tests/kho_corrupt_lib.sh
