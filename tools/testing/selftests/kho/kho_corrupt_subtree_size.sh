#!/bin/sh
# A subtree whose address and size pass the state tree's checksum but not
# the subtree checks: its size runs past what was preserved for it.
. /tests/kho_lib.sh
WHAT=subtree-size
REASON="not in preserved memory"
. /tests/kho_corrupt_subtree_lib.sh
