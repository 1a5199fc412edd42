// Output paths of the commands that write one file.
#include <filesystem>

#include "apps/commands.h"

namespace promoe::apps {

void make_parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);  // a failure shows when the file is written
}

}  // namespace promoe::apps
