#!/bin/sh
# KHO with deferred struct page init. Kthreads initialize most struct pages
# after memblock has handed memory to the buddy allocator, and free it as
# movable pageblocks; the scratch areas must still end up as CMA
# pageblocks, all of them, in the first kernel and in the one booted from
# the handover, and be counted in the zones they belong to. Preserved
# folios (kho/test) are restored across the kexec.
. /tests/kho_lib.sh

# zone_cma_blocks: "ZONE BLOCKS" for each zone that has CMA pageblocks,
# from the CMA column of "Number of blocks type" in pagetypeinfo
zone_cma_blocks() {
	awk '/^Number of blocks type/ {
		col = 0
		for (i = 5; i <= NF; i++) if ($i == "CMA") col = i
		next
	}
	/^Node/ && col && $col { print $4, $col }
	!/^Node/ { col = 0 }' /proc/pagetypeinfo
}

# zone_cma_pages: "ZONE PAGES" for each zone that has some, per zoneinfo
zone_cma_pages() {
	awk '/^Node/ { zone = $4 } $1 == "cma" && $2 { print zone, $2 }' /proc/zoneinfo
}

check_scratch_cma() {
	dmesg | grep -q "deferred pages initialised" ||
		fail "no 'deferred pages initialised' in dmesg: DEFERRED_STRUCT_PAGE_INIT is off"
	per_block=$(awk '/^Pages per block:/ { print $4 * 4096 }' /proc/pagetypeinfo)
	[ -n "$per_block" ] || fail "no 'Pages per block' in /proc/pagetypeinfo"
	bytes=0
	for len in $(cat $KHO/out/scratch_len); do
		bytes=$((bytes + len))
	done
	[ $bytes -gt 0 ] || fail "no scratch areas"
	blocks=0
	for n in $(zone_cma_blocks | awk '{ print $2 }'); do
		blocks=$((blocks + n))
	done
	expect_eq "CMA pageblocks ($1)" $((bytes / per_block)) $blocks
	# each zone counts as CMA pages exactly its CMA pageblocks: the zone
	# was read from initialized struct pages
	expect_eq "CMA pages per zone ($1)" \
		"$(zone_cma_blocks | awk -v p=$((per_block / 4096)) '{ print $1, $2 * p }' | sort)" \
		"$(zone_cma_pages | sort)"
	expect_eq "CmaTotal kB ($1)" $((bytes / 1024)) \
		"$(awk '/^CmaTotal:/ { print $2 }' /proc/meminfo)"
}

case "$1" in
1)
	check_scratch_cma "first boot"
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "200 $seed" || fail "preserve"
	exit $NEXT_STAGE ;;
2)
	kho_expect_verified
	check_scratch_cma "after kexec"
	exit 0 ;;
esac
fail "unexpected stage $1"
