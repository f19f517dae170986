#!/bin/sh
# Add to the map a run of order-0 blocks whose middle, and only its middle,
# lies over an order-1 block (the handover page's checksum still holds);
# the next kernel must find the overlap, refuse the map and boot.
. /tests/kho_lib.sh
WHAT=memmap-overlap
REASON="preserved blocks overlap"
. /tests/kho_corrupt_lib.sh
