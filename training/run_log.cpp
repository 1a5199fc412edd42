// Log truncation on resume (run_log.h).
#include "training/run_log.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace promoe::training {

void truncate_log_to_step(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j.at("step").is_number_integer() && j.at("step").get<int64_t>() <= step)
      kept += line + "\n";
  }
  io::write_file_atomic(path, kept);
}

}  // namespace promoe::training
