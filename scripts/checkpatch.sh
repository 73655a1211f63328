#!/usr/bin/env bash
# Run the kernel's checkpatch.pl (--strict) on the module's sources.
# checkpatch ships in Debian's linux-source tarball; the three files it
# needs are extracted once into the cache ("checkpatch.sh --fetch" only does that).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CKPT_CACHE:=$PWD/.cache}"
dir=$CKPT_CACHE/checkpatch
if [[ ! -s $dir/scripts/checkpatch.pl ]]; then
	tmp=$(mktemp -d)
	chmod 0755 "$tmp" # apt-get download runs as _apt
	trap 'rm -rf "$tmp"' EXIT
	echo "checkpatch: fetching linux-source-6.1 for scripts/checkpatch.pl"
	pkg=$(apt-cache depends linux-source 2>/dev/null | awk '/Depends: linux-source-/{print $2; exit}')
	(cd "$tmp" && apt-get download "${pkg:-linux-source-6.1}" >/dev/null)
	mkdir -p "$tmp/src"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -xO --wildcards '*.tar.xz' | xz -dc |
		tar -x -C "$tmp/src" --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
	mkdir -p "$dir"
	rm -rf "$dir/scripts"
	mv "$tmp/src/scripts" "$dir/scripts"
fi
[[ ${1:-} == --fetch ]] && exit 0
perl "$dir/scripts/checkpatch.pl" --no-tree --strict --terse --show-types \
	--ignore FILE_PATH_CHANGES -f "$@"
echo "checkpatch: clean ($# files)"
