#!/bin/sh
# Damage the handover's scratch after finalize; the next kernel must refuse it.
. /tests/kho_lib.sh
WHAT=scratch
REASON="scratch area outside memory"
. /tests/kho_corrupt_lib.sh
