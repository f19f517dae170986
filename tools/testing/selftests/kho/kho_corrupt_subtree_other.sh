#!/bin/sh
# A subtree whose address and size pass the state tree's checksum but not
# the subtree checks: it points at the handover's own state tree, which is reserved, not preserved.
. /tests/kho_lib.sh
WHAT=subtree-other
REASON="not in preserved memory"
. /tests/kho_corrupt_subtree_lib.sh
