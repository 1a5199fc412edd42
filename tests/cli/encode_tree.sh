#!/usr/bin/env bash
# `promoe encode` on a copy of the image tree (tests/data/images/tree) with one corrupt JPEG
# added: the corrupt file is named in a one-line error and the command fails, the other images
# are written; a second run after the corrupt file is removed skips every output already there
# (their files untouched); a run after one output is deleted and a killed writer's temp file is
# left behind encodes that one image again and removes the temp file.
# Usage: encode_tree.sh PROMOE VAE_DIR TREE_DIR WORK_DIR
set -u
promoe=$1 vae=$2 tree=$3 work=$4
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
cp -r "$tree" "$work/images"
head -c 900 "$work/images/n01/a_420.JPEG" > "$work/images/n01/z_corrupt.jpg"
run() { "$promoe" encode --vae "$vae" --images "$work/images" --out "$work/latents" --size 16 --batch 4 --jobs 2 --threads 1 "$@"; }

run > "$work/out1" 2> "$work/err1"
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "a corrupt image should fail the run cleanly (exit $rc)"
grep -q "z_corrupt.jpg" "$work/err1" || fail "the corrupt image is not named: $(cat "$work/err1")"
[ "$(grep -c "z_corrupt.jpg" "$work/err1")" -eq 1 ] || fail "expected one error line for it: $(cat "$work/err1")"
grep "z_corrupt.jpg" "$work/err1" | grep -q "Premature end of JPEG file" || fail "the error gives no reason: $(cat "$work/err1")"
grep -q "encoded 9 images to \[8, 8, 8\] latents" "$work/out1" || fail "first run: $(cat "$work/out1")"
n=$(find "$work/latents" -name "*.latent.npz" | wc -l)
[ "$n" -eq 9 ] || fail "expected 9 latent files, found $n"
[ -f "$work/latents/n01/a_420.latent.npz" ] && [ -f "$work/latents/n02/i_grey.latent.npz" ] || fail "official layout: $(find "$work/latents")"
[ "$(cat "$work/latents/classes.txt")" = "$(printf 'n01\nn02')" ] || fail "classes.txt: $(cat "$work/latents/classes.txt")"
echo "first run: $(head -n 1 "$work/err1" | cut -c 1-160)"

rm "$work/images/n01/z_corrupt.jpg"
before=$(stat -c %Y.%s "$work/latents/n01/a_420.latent.npz")
sleep 1
run --quiet > "$work/out2" 2> "$work/err2" || fail "second run: $(cat "$work/err2")"
grep -q "encoded 0 images .* 9 already encoded" "$work/out2" || fail "second run should skip all: $(cat "$work/out2")"
[ "$(stat -c %Y.%s "$work/latents/n01/a_420.latent.npz")" = "$before" ] || fail "a finished output was rewritten"
echo "second run: $(cat "$work/out2")"

rm "$work/latents/n02/f_rgb.latent.npz"
: > "$work/latents/n02/f_rgb.latent.npz.tmp.999999999"  # no such process
run --quiet > "$work/out3" 2> "$work/err3" || fail "third run: $(cat "$work/err3")"
grep -q "encoded 1 images .* 8 already encoded" "$work/out3" || fail "third run should encode one: $(cat "$work/out3")"
[ -f "$work/latents/n02/f_rgb.latent.npz" ] || fail "the deleted output was not written again"
[ ! -e "$work/latents/n02/f_rgb.latent.npz.tmp.999999999" ] || fail "the stale temp file was left"
echo "third run: $(cat "$work/out3")"
echo "ok"
