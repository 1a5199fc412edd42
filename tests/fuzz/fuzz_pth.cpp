// PyTorch .pth reading and import. An input starting with "PK" is a whole archive: it either opens
// (io::PthFile) with every tensor loading as a CPU tensor that covers its shape, and then imports
// into a promoe checkpoint of a tiny ProMoE configuration (tests/twin/make_pth_goldens.py's FUZZ)
// or is refused there, or throws promoe::Error. Any other input is a data.pkl: it either parses
// (io::pickle) with every tensor view inside its storage, or throws promoe::Error.
#include <unistd.h>

#include <filesystem>

#include "fuzz_util.h"
#include "io/pth.h"
#include "training/checkpoint.h"
#include "training/checkpoint_import.h"

using namespace promoe;

namespace {

const char* kTinyConfig =
    R"({"input_size": 4, "in_channels": 1, "patch_size": 2, "hidden_size": 8, "depth": 2, "num_heads": 2,
        "mlp_ratio": 1.0, "num_classes": 2, "learn_sigma": true, "class_dropout_prob": 0.1,
        "moe": {"type": "promoe_tc", "num_experts": 2, "top_k": 1, "interleave": true, "use_uncond_expert": true,
                "use_shared_expert": true, "moe_intermediate_size": 8, "shared_expert_intermediate_size": 8}})";

// The last element a view reaches, recomputed independently of the reader.
void require_inside(const io::pickle::TensorRef& r) {
  FUZZ_REQUIRE(r.storage && r.storage->kind == io::pickle::Kind::Storage && r.shape.size() == r.strides.size());
  unsigned __int128 last = r.offset, numel = 1;
  for (size_t d = 0; d < r.shape.size(); ++d) {
    FUZZ_REQUIRE(r.shape[d] >= 0 && r.strides[d] >= 0);
    numel *= uint64_t(r.shape[d]);
    if (r.shape[d] > 0) last += (unsigned __int128)(r.shape[d] - 1) * uint64_t(r.strides[d]);
  }
  FUZZ_REQUIRE(numel == 0 ? r.offset <= r.storage->storage.numel : last < r.storage->storage.numel);
}

std::string scratch_path() {
  const std::filesystem::path dir =
      std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
  return (dir / ("promoe_fuzz_pth_" + std::to_string(::getpid()) + ".safetensors")).string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || data[0] != 'P' || data[1] != 'K') {
    try {
      io::pickle::Pickle p(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz data.pkl");
      for (const io::pickle::Object* t : p.tensors()) require_inside(t->tensor);
    } catch (const Error&) {
    }
    return 0;
  }
  fuzz::InputFile file(data, size);
  try {
    io::PthFile f(file.path());
    for (const io::pickle::Object* t : f.pickle().tensors()) {
      require_inside(t->tensor);
      try {
        const Tensor v = f.load(*t);
        fuzz::require_covered(v);
        FUZZ_REQUIRE(v.shape() == io::PthFile::shape(*t));
      } catch (const Error&) {  // a CRC mismatch is refused per tensor
      }
    }
    training::ImportOptions o;
    o.source = file.path();
    o.out = scratch_path();
    o.spec = training::ModelSpec::from_json(kTinyConfig);
    o.spec_name = "the fuzz configuration";
    const training::ImportSummary s = training::import_checkpoint(o);
    FUZZ_REQUIRE(s.step >= 0 && s.adam_step >= 0);
    FUZZ_REQUIRE(training::read_checkpoint_state(o.out).step == s.step);
    std::filesystem::remove(o.out);
  } catch (const Error&) {
  }
  return 0;
}
