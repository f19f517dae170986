#!/bin/bash
# Assemble the kernel build tree: pristine 6.12.y + our new files + patches.
#
# usage: assemble.sh BASE TREE REPO
#
# TREE is a hard-linked copy of BASE, so assembling costs seconds and never
# writes into BASE (patch(1) and rsync replace files instead of editing them
# in place, which breaks the link). When patches/series or the set of overlay
# files changes the tree is assembled again from scratch; otherwise only the
# overlay files that changed are copied, so kbuild rebuilds just what depends
# on them.
set -euo pipefail
base=$1 tree=$2 repo=$3

# The directories that hold new kernel files at their real kernel paths.
overlay_dirs=$(cat "$repo/harness/overlay-dirs")

check_version() {
	local mk=$1/Makefile v p
	[ -f "$mk" ] || { echo "error: $1 is not a kernel tree (no Makefile)" >&2; exit 1; }
	v=$(sed -n 's/^VERSION = //p' "$mk")
	p=$(sed -n 's/^PATCHLEVEL = //p' "$mk")
	if [ "$v.$p" != "6.12" ]; then
		echo "error: $1 is Linux $v.$p; kho-v needs a 6.12.y tree" >&2
		exit 1
	fi
}
check_version "$base"

cd "$repo"
overlay=$(for d in $overlay_dirs; do if [ -d "$d" ]; then find "$d" -type f; fi; done | LC_ALL=C sort)
stamp=$( (cat patches/series 2>/dev/null
	  while read -r p _; do case "$p" in ''|\#*) ;; *) cat "patches/$p";; esac; done \
		< <(cat patches/series 2>/dev/null)
	  echo "$overlay"; readlink -f "$base") | sha256sum | cut -d' ' -f1)

if [ ! -f "$tree/.kho-v-stamp" ] || [ "$(cat "$tree/.kho-v-stamp")" != "$stamp" ]; then
	echo "  ASSEMBLE $tree (base $(readlink -f "$base"))"
	rm -rf "$tree.tmp"
	cp -al "$base" "$tree.tmp"
	if [ -f patches/series ]; then
		while read -r p _; do
			case "$p" in ''|\#*) continue;; esac
			# a patch that only brings new files has no hunks here
			grep -q '^diff --git' "patches/$p" || continue
			echo "  PATCH    $p"
			if ! patch -d "$tree.tmp" -p1 -s --no-backup-if-mismatch < "patches/$p"; then
				echo "error: patches/$p does not apply to $(readlink -f "$base")" >&2
				exit 1
			fi
		done < patches/series
	fi
	# A patched file that came out as it was keeps its old timestamp, so a
	# change to one patch rebuilds what it touches, not every dependant of
	# every patched header.
	if [ -d "$tree" ]; then
		while read -r p _; do
			case "$p" in ''|\#*) continue;; esac
			sed -n 's|^+++ b/||p' "patches/$p"
		done < patches/series | LC_ALL=C sort -u | while read -r f; do
			if [ -f "$tree/$f" ] && cmp -s "$tree/$f" "$tree.tmp/$f"; then
				touch -r "$tree/$f" "$tree.tmp/$f"
			fi
		done
	fi
	rm -rf "$tree"
	mv "$tree.tmp" "$tree"
	echo "$stamp" > "$tree/.kho-v-stamp"
fi

# Overlay: new files only. rsync compares contents and replaces only the
# files that changed, which get the current time: an edit made while a
# build was running is newer than the objects that build left, and is
# rebuilt. Unchanged files keep their timestamps.
if [ -n "$overlay" ]; then
	echo "$overlay" | rsync -rlpD --checksum --files-from=- ./ "$tree/"
fi
