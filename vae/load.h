// Reading an AutoencoderKL from a diffusers model folder: config.json and
// diffusion_pytorch_model.safetensors (diffusers' parameter names; the mid-block attention also
// under the older names query / key / value / proj_attn, with (C, C) or (C, C, 1, 1) weights).
// Every tensor of the model must be in the file with its exact shape, and the file may hold no
// other; a mismatch is an error naming the file, the tensor and both shapes. Weights stored as
// f64, f16 or bf16 are converted to f32, and must be finite. A folder with only the half-precision
// variant (diffusion_pytorch_model.fp16.safetensors) loads from that.
#pragma once
#include <memory>
#include <string>

#include "io/safetensors.h"
#include "vae/autoencoder_kl.h"

namespace promoe::vae {

// The file names inside a model folder.
inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kWeightsFile = "diffusion_pytorch_model.safetensors";
inline constexpr const char* kFp16WeightsFile = "diffusion_pytorch_model.fp16.safetensors";

std::shared_ptr<AutoencoderKL> load_vae(const std::string& dir);

// Copies the tensors of `file` into `model` (on the CPU, f32) by name, with the checks above.
void load_vae_weights(AutoencoderKL& model, const io::SafeTensors& file);

// The name diffusers uses today for a file tensor named `name` (the old attention names mapped).
std::string current_vae_name(const std::string& name);

}  // namespace promoe::vae
