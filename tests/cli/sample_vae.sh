#!/usr/bin/env bash
# `promoe sample --vae`: a model trained two steps on 4 x 8 x 8 latents samples, and its samples
# are decoded by the VAE before writing. The .npz it writes is byte for byte the one `promoe
# decode` makes of the same samples written as latents; the PNG grid and float images are written
# too, and a VAE of other latent channels is refused before sampling.
# Usage: sample_vae.sh PROMOE VAE_DIR OTHER_VAE_DIR LATENTS WORK_DIR
set -u
promoe=$1 vae=$2 other=$3 latents=$4 work=$5
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
"$promoe" train --preset Dense-Tiny --set in_channels=4 --set input_size=8 --data "$latents" --steps 2 --batch 4 \
  --grid-per-class 0 --threads 1 --quiet --out "$work/model" > "$work/train.log" 2>&1 || fail "train: $(tail -3 "$work/train.log")"
ckpt=$work/model/checkpoint.safetensors
sample() { "$promoe" sample --checkpoint "$ckpt" --num 4 --steps 3 --seed 7 --threads 1 "$@"; }
sample --out "$work/latents.safetensors" > /dev/null || fail "sample to latents"
"$promoe" decode --vae "$vae" --latents "$work/latents.safetensors" --threads 1 --out "$work/decoded.npz" > /dev/null \
  || fail "decode"
sample --vae "$vae" --out "$work/sampled.npz" || fail "sample --vae to .npz"
cmp "$work/decoded.npz" "$work/sampled.npz" || fail "sample --vae differs from sample + decode"
sample --vae "$vae" --out "$work/sampled.png" > /dev/null || fail "sample --vae to .png"
[ "$(head -c 4 "$work/sampled.png" | tail -c 3)" = "PNG" ] || fail "no PNG written"
sample --vae "$vae" --out "$work/sampled.safetensors" > /dev/null || fail "sample --vae to .safetensors"
err=$(sample --vae "$other" --out "$work/x.npz" 2>&1 >/dev/null) && fail "a 3-channel VAE was accepted"
echo "$err" | grep -q "the VAE decodes 3-channel latents, the model samples 4 channels" || fail "error: $err"
echo "ok: sample --vae .npz equals sample + decode ($(stat -c %s "$work/sampled.npz") bytes)"
