#!/bin/sh
# Seeds the frame_decode corpus with every captured client frame (tests/data/first-frames and
# tests/data/cluster). The corpus directory is gitignored; this script is what is committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/corpus/frame_decode"
mkdir -p "$corpus"
cp "$here"/../tests/data/first-frames/*.bin "$corpus/"
cp "$here"/../tests/data/cluster/*.bin "$corpus/"
echo "seeded $(ls "$corpus" | wc -l) files into $corpus"
