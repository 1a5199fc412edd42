// safetensors reader: a file either loads, with every tensor's storage covering its shape, the
// tensors' bytes fitting in the file, and the order listing each tensor once; or it throws
// promoe::Error.
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  try {
    promoe::io::SafeTensors st = promoe::io::read_safetensors(file.path());
    uint64_t total = 0;
    for (const auto& [name, t] : st.tensors) total += promoe::fuzz::require_covered(t);
    FUZZ_REQUIRE(total <= size);
    FUZZ_REQUIRE(st.order.size() == st.tensors.size());
    for (const std::string& name : st.order) FUZZ_REQUIRE(st.has(name));
    for (const auto& [name, t] : st.tensors)
      if (t.dtype() != promoe::DType::BF16) promoe::io::to_index_tensor(t, name);  // may throw: non-integral
  } catch (const promoe::Error&) {
  }
  return 0;
}
