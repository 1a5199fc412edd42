// Parity case loader (`promoe check`): a case file either runs, giving one comparison per
// reference tensor with a non-negative error, or throws promoe::Error.
#include "fuzz_util.h"
#include "parity/case_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  try {
    promoe::parity::CaseResult r = promoe::parity::check_case(file.path(), promoe::Device::cpu());
    FUZZ_REQUIRE(r.path == file.path());
    for (const auto& c : r.comparisons) FUZZ_REQUIRE(!(c.error < 0));
  } catch (const promoe::Error&) {
  }
  return 0;
}
