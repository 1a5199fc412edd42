// The training log <out>/log.jsonl: one JSON object per line with at least "step". A resumed run
// continues from its checkpoint's step, so the lines a killed run wrote after that checkpoint are
// dropped first; otherwise the steps would read 11, 12, 13, 12.
#pragma once
#include <cstdint>
#include <string>

namespace promoe::training {

// Rewrites `path` atomically keeping only the lines whose "step" is at most `step`; a torn or
// malformed line (a kill mid-write) is dropped too. A missing file stays missing.
void truncate_log_to_step(const std::string& path, int64_t step);

}  // namespace promoe::training
