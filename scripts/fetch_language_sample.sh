#!/usr/bin/env bash
# The labelled sample `make eval` measures language detection on (eval/language.py): the Debian
# Reference (Osamu Aoki and its translators, GPL-2+) in English, German, French and Spanish, from
# Debian's debian-reference-{en,de,fr,es} packages. Its HTML chapters go to LANGUAGE_SAMPLE_DIR
# (default .smartsupport/language-sample); nothing of it enters the repository.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${LANGUAGE_SAMPLE_DIR:-$ROOT/.smartsupport/language-sample}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
PACKAGES=(debian-reference-en debian-reference-de debian-reference-fr debian-reference-es)
if ! apt-get download "${PACKAGES[@]}"; then
    echo "apt-get download failed: run 'apt-get update' (as root) and try again" >&2
    exit 1
fi
mkdir -p "$DEST"
: > "$DEST/SOURCE"
for deb in ./*.deb; do
    dpkg-deb -x "$deb" extracted
    echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >> "$DEST/SOURCE"
done
cp extracted/usr/share/debian-reference/*.html "$DEST/"
cp extracted/usr/share/doc/debian-reference-en/copyright "$DEST/copyright"
echo "wrote $(ls "$DEST"/*.html | wc -l) chapters of $(paste -sd, "$DEST/SOURCE") to $DEST"
