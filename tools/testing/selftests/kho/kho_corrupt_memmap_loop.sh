#!/bin/sh
# Make a memory map table point back up to its root; the next kernel must
# see the page a second time and refuse the handover.
. /tests/kho_lib.sh
WHAT=memmap-loop
REASON="memory map page reached twice"
. /tests/kho_corrupt_lib.sh
