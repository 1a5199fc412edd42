// Every committed parity case (tests/cases, written by the PyTorch twin in tests/twin) must pass.
#include <doctest/doctest.h>

#include <filesystem>

#include "parity/case_check.h"

using namespace promoe;

TEST_CASE("every committed parity case passes") {
  const std::filesystem::path dir = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "cases";
  int n = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    ++n;
    parity::CaseResult r = parity::check_case(entry.path().string());
    CHECK_MESSAGE(r.ok(), r.summary());
  }
  CHECK(n >= 10);
}
