#!/bin/bash
# Build the test initramfs: busybox, the init, the loaders (ours and Debian's
# kexec), every test, and the kernel image to kexec into.
#
# usage: mkinitramfs.sh OBJ BZIMAGE OUT "CFLAGS" FILE...
#
# Each FILE is a test, benchmark or demo scenario, installed as /tests/NAME
# (its file name without the extension), or a shell library NAME_lib.sh,
# copied in as /tests/NAME_lib.sh: the name its users source.
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

# Userspace C: rebuilt when its source, or a header beside it, is newer.
build_c() {	# SRC OUT
	local stale=0 h
	[ -x "$2" ] && [ ! "$1" -nt "$2" ] || stale=1
	for h in "$(dirname "$1")"/*.h "$repo"/tools/testing/selftests/liveupdate/*.h \
		 "$repo"/tools/testing/selftests/kvm/kho/*.h; do
		[ -e "$h" ] && [ "$h" -nt "$2" ] && stale=1
	done
	if [ $stale = 1 ]; then
		echo "  CC       ${1#"$repo/"}"
		# shellcheck disable=SC2086
		gcc $cflags -o "$2" "$1"
	fi
}
build_c "$repo/tools/kho/kho-kexec.c" "$bin/kho-kexec"
install -m 755 "$bin/kho-kexec" "$root/bin/kho-kexec"
build_c "$repo/tools/kho/kho-update.c" "$bin/kho-update"
install -m 755 "$bin/kho-update" "$root/bin/kho-update"

# Debian's kexec-tools with the shared libraries it needs.
if kexec_bin=$(command -v kexec); then
	cp "$kexec_bin" "$root/sbin/kexec"
	for lib in $(ldd "$kexec_bin" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
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
	*.c) build_c "$repo/$t" "$bin/$name"; install -m 755 "$bin/$name" "$root/tests/$name" ;;
	*)   install -m 755 "$repo/$t" "$root/tests/$name" ;;
	esac
done

cp "$bzimage" "$root/boot/bzImage"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "    $out ($(( $(stat -c %s "$out") / 1024 / 1024 )) MiB, $# tests)"
