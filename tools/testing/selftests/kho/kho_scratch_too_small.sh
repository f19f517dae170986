#!/bin/sh
# kexec_file_load refuses, with ENOSPC and a message giving the figures, a
# next kernel that would not fit in scratch: its segments plus the early
# allocations this kernel made (kho/out/boot_alloc) exceed the areas. The
# same kernel with an initrd a few MiB smaller still loads. Scratch is sized
# at 150% of the boot allocations: it exceeds those allocations plus the
# kernel by enough for an initrd of some MiB, also on the debug kernel,
# whose boot allocations are mostly KASAN's shadow; and each segment still
# finds an area to be placed in when their sum is refused, so a segment too
# large to place (EADDRNOTAVAIL) cannot be what refuses the load.
. /tests/kho_lib.sh

MiB=$((1 << 20))
total=0
for len in $(cat $KHO/out/scratch_len); do
	total=$((total + len))
done
boot=$(cat $KHO/out/boot_alloc)
# the decompressed kernel's footprint: init_size in the bzImage header
init=$(od -An -tu4 -j $((0x260)) -N 4 /boot/bzImage | tr -d ' ')
echo "scratch $((total / MiB)) MiB, boot_alloc $((boot / MiB)) MiB, kernel init_size $((init / MiB)) MiB"
[ "$boot" -gt 0 ] || fail "kho/out/boot_alloc is $boot"

# initrd sizes just above and below what fits, in whole MiB: the boot
# data and the purgatory add some KiB, the rounding up to a MiB the rest
over=$(((total - boot - init) / MiB + 1))
under=$((over - 8))
[ $under -gt 0 ] || fail "scratch too small for this test"

head -c $((over * MiB)) /dev/zero > /tmp/initrd.over
dmesg -c > /dev/null
kho-kexec /boot/bzImage /tmp/initrd.over "console=ttyS0" 2> load.err
rc=$?
cat load.err
[ $rc != 0 ] || fail "a $over MiB initrd loaded: expected a refusal"
grep -q "No space left on device" load.err ||
	fail "refused with '$(cat load.err)', expected ENOSPC"
msg=$(dmesg | grep "kexec_file_load refused: the next kernel needs")
[ -n "$msg" ] || fail "no refusal message in dmesg"
echo "ok: $over MiB initrd refused: $msg"
rm -f /tmp/initrd.over

head -c $((under * MiB)) /dev/zero > /tmp/initrd.under
kho-kexec /boot/bzImage /tmp/initrd.under "console=ttyS0" ||
	fail "a $under MiB initrd was refused"
echo "ok: $under MiB initrd loaded"
kho-kexec -u || fail "unload"
rm -f /tmp/initrd.under
exit 0
