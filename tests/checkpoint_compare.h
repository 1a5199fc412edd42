// Two training runs' checkpoints hold the same state bit for bit: every tensor (model, EMA,
// optimizer moments) and the random state's metadata. Used by the resume tests.
#pragma once
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "io/safetensors.h"

namespace promoe::test {

// dir_a and dir_b are run directories holding checkpoint.safetensors.
inline void check_same_checkpoints(const std::string& dir_a, const std::string& dir_b) {
  io::SafeTensors a = io::read_safetensors(dir_a + "/checkpoint.safetensors");
  io::SafeTensors b = io::read_safetensors(dir_b + "/checkpoint.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (auto& [name, t] : a.tensors) CHECK_MESSAGE(t.to_vector<float>() == b.get(name).to_vector<float>(), name);
  for (const char* key : {"rng_seed", "rng_offset"}) CHECK_MESSAGE(a.metadata(key) == b.metadata(key), key);
}

}  // namespace promoe::test
