#!/bin/bash
# Build the test initramfs: busybox, the init, the loaders (ours and Debian's
# kexec), every test, and the kernel image to kexec into.
#
# usage: [KHO_PROD_OBJ=DIR] mkinitramfs.sh OBJ BZIMAGE OUT "CFLAGS" FILE...
#
# Each FILE is a test, benchmark or demo scenario, installed as /tests/NAME
# (its file name without the extension), or a shell library NAME_lib.sh,
# copied in as /tests/NAME_lib.sh: the name its users source.
#
# The kernels to kexec into: BZIMAGE as /boot/test/, and, where KHO_PROD_OBJ
# names the production-shaped kernel's object directory (make prod-kernel),
# that one as /boot/prod/ with its modules in /lib/modules/<its release>/.
# /boot/bzImage and /boot/bzImage.signed point into the one the next stage
# boots (the init sets them from kho_next=; the test kernel here).
set -euo pipefail
obj=$1 bzimage=$2 out=$3 cflags=$4
shift 4
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$obj/initramfs-root
bin=$obj/initramfs-bin

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,boot,tests,var/kho-test} "$bin"

cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done
install -m 755 "$repo/harness/init" "$root/init"

# Userspace C: rebuilt when its source, or a header beside it, is newer,
# and all of it when the flags change.
mkdir -p "$bin"
if [ "$(cat "$bin/.cflags" 2>/dev/null)" != "$cflags" ]; then
	rm -rf "${bin:?}"/*
	printf '%s\n' "$cflags" > "$bin/.cflags"
fi
# The test libraries are compiled once into $bin/lib and linked into the
# programs of the directories that use them.
luo_lib=tools/testing/selftests/liveupdate/luo_test_utils.c
kvm_lib="tools/testing/selftests/kvm/kho/kvm_kho_util.c
	 tools/testing/selftests/kvm/kho/kvm_kho_util_guest.c
	 tools/testing/selftests/kvm/kho/kvm_kho_util_record.c"
iommu_lib=tools/testing/selftests/iommu/kho/iommu_kho_util.c
bench_lib=bench/lib/luo_memfd_bench.c
libs_for() {	# SRC: the library sources it links, by its directory
	case "${1#"$repo/"}" in
	tools/testing/selftests/liveupdate/*) echo "$luo_lib" ;;
	tools/testing/selftests/kvm/kho/*|demo/*) echo "$kvm_lib $luo_lib" ;;
	tools/testing/selftests/iommu/kho/vfio_kho_vm.c) \
		echo "$iommu_lib $kvm_lib $luo_lib" ;;
	tools/testing/selftests/iommu/kho/*) echo "$iommu_lib $luo_lib" ;;
	bench/kvm_*.c) echo "$kvm_lib $luo_lib" ;;
	bench/iommufd_*.c) echo "$iommu_lib $luo_lib" ;;
	bench/*) echo "$bench_lib $luo_lib" ;;
	esac
}
# The IOMMU tests need this kernel's uAPI (iommufd, VFIO cdev), newer than
# the build machine's: the headers kbuild installed in $obj/usr/include.
cflags_for() {	# SRC
	case "${1#"$repo/"}" in
	tools/testing/selftests/iommu/kho/*|bench/iommufd_*) \
		echo "-I$obj/usr/include" ;;
	esac
}
headers_newer() {	# FILE SRC: a header beside SRC or of a library is newer
	local h
	for h in "$(dirname "$2")"/*.h "$(dirname "$2")"/lib/*.h \
		 "$repo"/tools/testing/selftests/liveupdate/*.h \
		 "$repo"/tools/testing/selftests/kvm/kho/*.h \
		 "$repo"/tools/testing/selftests/iommu/kho/*.h; do
		[ -e "$h" ] && [ "$h" -nt "$1" ] && return 0
	done
	return 1
}
build_c() {	# SRC OUT
	local stale=0 objs="" l o
	mkdir -p "$bin/lib"
	for l in $(libs_for "$1"); do
		[ -e "$repo/$l" ] || continue
		o=$bin/lib/$(basename "$l" .c).o
		if [ ! -e "$o" ] || [ "$repo/$l" -nt "$o" ] || headers_newer "$o" "$repo/$l"; then
			echo "  CC       $l"
			# shellcheck disable=SC2086
			gcc $cflags $(cflags_for "$repo/$l") -c -o "$o" "$repo/$l"
		fi
		objs="$objs $o"
		[ "$o" -nt "$2" ] && stale=1
	done
	[ -x "$2" ] && [ ! "$1" -nt "$2" ] || stale=1
	headers_newer "$2" "$1" && stale=1
	if [ $stale = 1 ]; then
		echo "  CC       ${1#"$repo/"}"
		# shellcheck disable=SC2086
		gcc $cflags $(cflags_for "$1") -o "$2" "$1" $objs
	fi
}
# install_prog SRC DST: a program, less its debug information, with the
# shared libraries it loads. Programs are linked dynamically: statically,
# each one carried its own copy of libc, and the initramfs, which every
# boot unpacks and every kexec hashes, was four times the size.
install_prog() {
	local lib
	install -m 755 -D "$1" "$2"
	strip --strip-debug "$2"
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
build_c "$repo/tools/kho/kho-kexec.c" "$bin/kho-kexec"
install_prog "$bin/kho-kexec" "$root/bin/kho-kexec"
build_c "$repo/tools/kho/kho-update.c" "$bin/kho-update"
install_prog "$bin/kho-update" "$root/bin/kho-update"

# Debian's kexec-tools
if kexec_bin=$(command -v kexec); then
	install_prog "$kexec_bin" "$root/sbin/kexec"
fi


tests=()
for t in "$@"; do
	case "$t" in
	*_lib.sh) install -m 644 "$repo/$t" "$root/tests/$(basename "$t")" ;;
	*) tests+=("$t") ;;
	esac
done
set -- "${tests[@]}"

for t in "$@"; do
	name=$(basename "$t"); name=${name%.*}
	case "$t" in
	*_util.c|*_utils.c|*_util_*.c|bench/lib/*) ;;	# a library, linked above
	*.c) build_c "$repo/$t" "$bin/$name"; install_prog "$bin/$name" "$root/tests/$name" ;;
	*)   install -m 755 "$repo/$t" "$root/tests/$name" ;;
	esac
done

# The test modules (the config builds no others), loaded by the tests,
# signed with the build's key as `make modules_install` would.
mkdir -p "$root/lib/modules"
find "$obj" \( -path "$root" -o -path "$obj/fleet-root" \) -prune -o -name '*.ko' -print0 | xargs -0 -r cp -t "$root/lib/modules/"
if [ -x "$obj/scripts/sign-file" ] && [ -f "$obj/certs/signing_key.pem" ]; then
	for m in "$root"/lib/modules/*.ko; do
		[ -e "$m" ] || continue
		"$obj/scripts/sign-file" sha256 "$obj/certs/signing_key.pem" \
			"$obj/certs/signing_key.x509" "$m"
	done
fi

# kernel_to DIR BZIMAGE: the kernel, and the same kernel signed for kexec
# under lockdown, where there is one
kernel_to() {
	mkdir -p "$root/boot/$1"
	cp "$2" "$root/boot/$1/bzImage"
	if [ -f "$2.signed" ]; then
		cp "$2.signed" "$root/boot/$1/bzImage.signed"
	fi
}
kernel_to test "$bzimage"
if [ -n "${KHO_PROD_OBJ:-}" ]; then
	kernel_to prod "$KHO_PROD_OBJ/arch/x86/boot/bzImage"
	release=$(cat "$KHO_PROD_OBJ/include/config/kernel.release")
	# as modules_install laid them out (signed, depmod run), less the
	# links back into the build machine's tree
	cp -a "$KHO_PROD_OBJ/modules-root/lib/modules/$release" "$root/lib/modules/"
	rm -f "$root/lib/modules/$release"/{build,source}
fi
for f in bzImage bzImage.signed; do
	ln -s "test/$f" "$root/boot/$f"
done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "    $out ($(( $(stat -c %s "$out") / 1024 / 1024 )) MiB, $# tests, kernels: $(ls "$root/boot" | grep -v bzImage | tr '\n' ' '))"
