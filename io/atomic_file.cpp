// Atomic file replacement through a temp file, fsync and rename (see atomic_file.h).
#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"

namespace promoe::io {

namespace {

std::string errno_str() { return std::strerror(errno); }

// fsync of the directory holding `path`, so the rename itself survives a power loss.
void sync_parent_dir(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  PROMOE_CHECK(fd >= 0, "cannot write ", path, ": cannot open directory ", dir.string(), " to sync it: ", errno_str());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on directories (EINVAL); the rename has happened regardless.
  PROMOE_CHECK(rc == 0 || err == EINVAL, "cannot write ", path, ": fsync of directory ", dir.string(),
               " failed: ", std::strerror(err));
}

}  // namespace

std::string atomic_temp_path(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

void write_file_atomic(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  PROMOE_CHECK(!path.empty(), "write_file_atomic: empty path");
  const std::string tmp = atomic_temp_path(path);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  PROMOE_CHECK(f, "cannot write ", path, ": cannot create temp file ", tmp, ": ", errno_str());
  try {
    ByteSink sink = [&](const void* data, size_t n) {
      if (n == 0) return;
      PROMOE_CHECK(std::fwrite(data, 1, n, f) == n, "cannot write ", path, ": write to ", tmp,
                   " failed: ", errno_str());
    };
    produce(sink);
    PROMOE_CHECK(std::fflush(f) == 0, "cannot write ", path, ": flush of ", tmp, " failed: ", errno_str());
    PROMOE_CHECK(::fsync(::fileno(f)) == 0, "cannot write ", path, ": fsync of ", tmp, " failed: ", errno_str());
    std::FILE* closing = f;
    f = nullptr;
    PROMOE_CHECK(std::fclose(closing) == 0, "cannot write ", path, ": close of ", tmp, " failed: ", errno_str());
    PROMOE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot write ", path, ": rename from ", tmp,
                 " failed: ", errno_str());
  } catch (...) {
    if (f) std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  sync_parent_dir(path);
}

int remove_stale_temp_files(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".tmp.";
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9) continue;
    const pid_t pid = pid_t(std::stol(pid_text));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer may still run
    removed += fs::remove(entry.path(), ec) ? 1 : 0;
  }
  return removed;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, [&](const ByteSink& sink) { sink(bytes.data(), bytes.size()); });
}

}  // namespace promoe::io
