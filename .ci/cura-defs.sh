#!/bin/sh
# Install CuraEngine's printer definitions (fdmprinter.def.json and friends) under
# ${C3PO_CURA_DEFS:-/opt/c3po/cura}. CuraEngine (Debian `cura-engine`) ships none; they
# come from Debian's `cura` package, which we unpack without installing (it pulls a GUI).
# Idempotent: does nothing when the definitions are already there.
set -eu
DEST="${C3PO_CURA_DEFS:-/opt/c3po/cura}"
if [ -f "$DEST/definitions/fdmprinter.def.json" ] && [ -d "$DEST/extruders" ]; then
    echo "cura definitions already in $DEST"
    exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
chmod 777 "$TMP"  # apt's _apt user writes the download here
apt-get download cura || { apt-get update && apt-get download cura; }
dpkg-deb -x cura_*.deb root
RES="$(dirname "$(find root -path '*/cura/resources/definitions' -type d | head -n 1)")"
if [ ! -f "$RES/definitions/fdmprinter.def.json" ]; then
    echo "cura-defs: fdmprinter.def.json not found in the cura package" >&2
    exit 1
fi
mkdir -p "$DEST"
rm -rf "$DEST/definitions" "$DEST/extruders"
cp -r "$RES/definitions" "$RES/extruders" "$DEST/"
echo "cura definitions installed in $DEST"
