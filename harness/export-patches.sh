#!/bin/bash
# Export kho-v as a `git am`-able series against pristine 6.12.
#
# usage: export-patches.sh REPO OUTDIR
#
# Each line of patches/series names a patch file (its mail header gives the
# subject and body) and, after it, the new files that belong to that patch;
# an entry ending in / stands for every file under that directory. The
# exported patch is the new files plus the patch's own hunks. Every new
# file must belong to exactly one patch.
set -euo pipefail
repo=$1 out=$2
cd "$repo"
rm -rf "$out"
mkdir -p "$out"

overlay_dirs=$(cat harness/overlay-dirs)
# A test directory's vm.conf says what its tests need from kho-v's QEMU
# harness; it is not part of the kernel series.
all_new=$(for d in $overlay_dirs; do
	if [ -d "$d" ]; then find "$d" -type f ! -name vm.conf; fi
done | LC_ALL=C sort)

# the files of one series entry: a file, or every file under a directory/
entry_files() {
	case "$1" in
	*/) find "${1%/}" -type f ! -name vm.conf | LC_ALL=C sort ;;
	*) echo "$1" ;;
	esac
}
assigned=$(sed -e 's/#.*//' patches/series | awk 'NF > 1 { for (i = 2; i <= NF; i++) print $i }' |
	while read -r e; do entry_files "$e"; done | LC_ALL=C sort)
missing=$(comm -23 <(echo "$all_new") <(echo "$assigned") | sed '/^$/d')
if [ -n "$missing" ]; then
	echo "error: new files not assigned to a patch in patches/series:" >&2
	echo "$missing" | sed 's/^/  /' >&2
	exit 1
fi
dups=$(echo "$assigned" | uniq -d)
if [ -n "$dups" ]; then
	echo "error: files assigned to more than one patch: $dups" >&2
	exit 1
fi

n=$(grep -cv '^\s*\(#\|$\)' patches/series)
version=$(git describe --always --dirty 2>/dev/null || echo unknown)
i=0
while read -r patch files; do
	case "$patch" in ''|\#*) continue;; esac
	i=$((i + 1))
	subject=$(sed -n 's/^Subject: \[PATCH\] //p' "patches/$patch" | head -n 1)
	[ -n "$subject" ] || { echo "error: patches/$patch has no Subject" >&2; exit 1; }
	name=$(printf '%04d-%s' "$i" "${patch#[0-9][0-9][0-9][0-9]-}")
	{
		echo "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
		echo "From: kho-v <kho-v@localhost>"
		echo "Date: Thu, 1 Jan 2026 00:00:00 +0000"
		echo "Subject: [PATCH $i/$n] $subject"
		echo
		# body: between the Subject line and the --- separator
		awk 'f && /^---$/ { exit } f { print } /^Subject:/ { f = 1; getline }' "patches/$patch"
		echo "---"
		for f in $(for e in $files; do entry_files "$e"; done); do
			git diff --no-index --no-color -- /dev/null "$f" || true
		done
		sed -n '/^diff --git/,$p' "patches/$patch"
		echo "-- "
		echo "kho-v $version"
		echo
	} > "$out/$name"
done < patches/series

{
	echo "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
	echo "From: kho-v <kho-v@localhost>"
	echo "Date: Thu, 1 Jan 2026 00:00:00 +0000"
	echo "Subject: [PATCH 0/$n] Kexec HandOver for Linux 6.12 hypervisor hosts"
	echo
	cat patches/cover-letter.txt
	echo
	echo "kho-v $version"
	echo
	for p in "$out"/0[0-9][0-9][0-9]-*; do
		[ "$(basename "$p")" = 0000-cover-letter.patch ] && continue
		sed -n 's/^Subject: //p' "$p" | head -n 1
	done
} > "$out/0000-cover-letter.patch"
echo "    $out: $n patches + cover letter"
