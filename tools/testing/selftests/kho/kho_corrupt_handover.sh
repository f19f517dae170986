#!/bin/sh
# Damage the handover's handover after finalize; the next kernel must refuse it.
. /tests/kho_lib.sh
WHAT=handover
REASON="bad magic in the handover page"
. /tests/kho_corrupt_lib.sh
