#!/bin/sh
# A subtree whose address and size pass the state tree's checksum but not
# the subtree checks: address plus size wraps around the address space.
. /tests/kho_lib.sh
WHAT=subtree-wrap
REASON="not in preserved memory"
. /tests/kho_corrupt_subtree_lib.sh
