// Weights from elsewhere in, and out under the official names (docs/CHECKPOINTS.md).
//
// Import reads, one tensor at a time (an XL training checkpoint is ~25 GB):
// - the .pth files the official train.py writes (`ckpt_step_N.pth`, a torch.save dict of `step`,
//   `model_state_dict`, `ema_model_state_dict` and `optimizer_state_dict`, whose integer parameter
//   ids follow the official model's parameters() order, see official_layout.h),
// - bare state dicts saved with torch.save, and safetensors state dicts under the official names.
// A DDP-wrapped model's "module." prefix (and torch.compile's "_orig_mod.") is stripped. Every name
// and shape is checked against the official layout of the configuration before anything is
// written, and a mismatch names the tensor, both shapes and the presets the file's shapes match.
// The result is a promoe checkpoint (training/checkpoint.h) with the step and the AdamW moments
// and step count, so `promoe train --resume` continues the run; a bare state dict becomes both the
// weights and the EMA, with zero moments at step 0.
//
// Export writes a checkpoint's EMA (or model) weights as a safetensors state dict under the official
// names, pos_embed included: what the official PyTorch model loads with load_state_dict(strict=True).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "training/model_spec.h"

namespace promoe::training {

struct ImportOptions {
  std::string source;             // .pth or .safetensors
  std::string out;                // the promoe checkpoint to write (atomically)
  std::optional<ModelSpec> spec;  // unset: the preset the file's shapes identify
  std::string spec_name;          // the preset or config file named, for messages
  uint64_t seed = 0;              // `train --seed` of the run that resumes from the import
};

struct ImportSummary {
  std::string kind;                           // "training checkpoint" or "state dict"
  std::string spec_name;                      // as given, or the identified preset
  std::vector<std::string> matching_presets;  // presets of exactly the file's shapes
  std::string stripped_prefix;                // e.g. "module." for a DDP-wrapped model
  int64_t step = 0, adam_step = 0;
  bool ema_from_file = false, moments_from_file = false;
  size_t tensors = 0;  // written
};

ImportSummary import_checkpoint(const ImportOptions& options);

struct ExportSummary {
  int64_t step = 0;
  size_t tensors = 0;
};

// `weights`: "ema" or "model".
ExportSummary export_weights(const std::string& checkpoint, const std::string& out, const std::string& weights);

}  // namespace promoe::training
