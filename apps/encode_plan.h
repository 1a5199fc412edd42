// What `promoe encode` is to do: the images of a class-folder tree (or of an .npz array) and the
// file each one's latents go to, in the official ProMoE layout (preprocess/preprocess_vae.py):
// IMAGES/<relative path>.<ext> -> OUT/<relative path>.latent.npz, holding `latent` and
// `latent_flip`. The class of an image is its parent folder's name, and label ids are those
// names in sorted order (the official training's class_to_idx), written to OUT/classes.txt.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/png.h"
#include "tensor/tensor.h"

namespace promoe::apps {

struct EncodeItem {
  std::string source;  // the image file, or "ARRAY.npz[i]"
  std::string out;     // OUT/....latent.npz
  int64_t npz_index = -1;
};

struct EncodePlan {
  std::vector<EncodeItem> items;     // sorted by output path
  std::vector<std::string> classes;  // label id -> class folder name
  Tensor npz_images;                 // (N, H, W, C) i64 bytes, for an .npz source
  int64_t skipped_other = 0;         // files of other formats the tree holds (.bmp, .gif, ...)
};

// The file extensions read, compared without case: .jpg, .jpeg, .png.
bool is_encodable_image(const std::string& path);

// Every .jpg / .jpeg / .png file under `root` (any depth; links are not followed).
EncodePlan plan_image_tree(const std::string& root, const std::string& out_dir);

// An .npz with uint8 images `arr_0` (or `images`) (N, H, W, C) and optional labels `arr_1` (or
// `labels`) (N): image i goes to OUT/<label as %04d>/<i as %08d>.latent.npz (classes.txt lists
// 0000 .. the largest label), or to OUT/images/<i as %08d>.latent.npz without labels.
EncodePlan plan_npz(const std::string& path, const std::string& out_dir);

// The image of an .npz item (i of the plan's array).
io::Image npz_image(const EncodePlan& plan, int64_t index);

// True when `path` is a finished output: an .npz holding latent.npy and latent_flip.npy of
// `latent_bytes` data bytes each (a file written atomically is either whole or absent).
bool is_complete_output(const std::string& path, uint64_t latent_bytes);

// Removes the temp files of outputs in `dir` whose writer was killed (io/atomic_file.h).
int remove_stale_outputs(const std::string& dir);

}  // namespace promoe::apps
