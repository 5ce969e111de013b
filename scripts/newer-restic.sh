#!/usr/bin/env bash
# Fetches the newer restic releases the tests run besides Debian 12's 0.14, and restic's REST
# server, as standalone binaries from Debian's newer suites: restic 0.18 (trixie, Debian 13),
# restic 0.19 (sid) and rest-server (trixie's restic-rest-server). The machine's apt setup is
# left alone: a private sources list under a temporary folder, `apt-get download`, then
# `dpkg-deb -x`. They are Go binaries that need only libc, so they run on Debian 12.
# Idempotent: a binary already in the cache is kept (delete the folder to fetch again).
#   bash scripts/newer-restic.sh [CACHE]     default CACHE: .tools in the checkout
# Result: CACHE/restic-trixie/restic, CACHE/restic-sid/restic, CACHE/rest-server/rest-server
# (each with a .deb file beside it naming the package it came from).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${HIGHBALL_TOOLS:-$root/.tools}}

# suite  package             binary in the package   folder in the cache
wanted=(
  "trixie restic             usr/bin/restic          restic-trixie/restic"
  "sid    restic             usr/bin/restic          restic-sid/restic"
  "trixie restic-rest-server usr/bin/restic-rest-server rest-server/rest-server"
)

todo=()
for w in "${wanted[@]}"; do
  read -r _ _ _ dest <<<"$w"
  [[ -x "$cache/$dest" ]] || todo+=("$w")
done
if ((${#todo[@]} == 0)); then
  for w in "${wanted[@]}"; do read -r _ _ _ dest <<<"$w"; echo "  $dest: $("$cache/$dest" --version 2>/dev/null | head -1 || "$cache/$dest" version)"; done
  exit 0
fi

for t in apt-get dpkg-deb; do
  command -v $t >/dev/null || { echo "newer-restic: $t is missing (this script needs Debian or Ubuntu)" >&2; exit 1; }
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || { echo "newer-restic: $keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

# The machine's own Debian mirror (not the security one), else Debian's.
uri=""
if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [[ -z $uri && -r /etc/apt/sources.list ]]; then
  uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
fi
[[ -n $uri && $uri != *snapshot.debian.org* ]] || uri=http://deb.debian.org/debian

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"
for suite in $(printf '%s\n' "${todo[@]}" | awk '{print $1}' | sort -u); do
  dir="$work/$suite"
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/debs"
  echo "deb [signed-by=$keyring] $uri $suite main" >"$dir/sources.list"
  apt=(-o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$dir/lists"
       -o Dir::Cache::Archives="$dir/archives" -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
  echo "newer-restic: reading Debian $suite's package list from $uri"
  if ! apt-get "${apt[@]}" -qq update 2>"$dir/update.log"; then
    cat "$dir/update.log" >&2
    echo "newer-restic: could not read Debian $suite's package list (no network to $uri?)" >&2
    exit 1
  fi
  for w in "${todo[@]}"; do
    read -r s pkg bin dest <<<"$w"
    [[ $s == "$suite" ]] || continue
    (cd "$dir/debs" && apt-get "${apt[@]}" -qq download "$pkg" 2>"$dir/download.log") \
      || { cat "$dir/download.log" >&2; echo "newer-restic: could not download $pkg from Debian $suite" >&2; exit 1; }
    deb=$(ls "$dir/debs/${pkg}"_*.deb)
    rm -rf "$dir/x" && dpkg-deb -x "$deb" "$dir/x"
    mkdir -p "$(dirname "$cache/$dest")"
    # Copy then rename, so an interrupted run never leaves a half-written binary that counts as present.
    [[ -f "$dir/x/$bin" ]] || { echo "newer-restic: $pkg from Debian $suite has no $bin" >&2; exit 1; }
    cp "$dir/x/$bin" "$cache/$dest.part"
    chmod 0755 "$cache/$dest.part"
    mv -f "$cache/$dest.part" "$cache/$dest"
    basename "$deb" >"$cache/$dest.deb"
    echo "  $dest: $(basename "$deb")"
    rm -f "$dir/debs/"*.deb
  done
done
