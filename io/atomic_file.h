// Atomic file replacement: the bytes go to `PATH.tmp.<pid>` in the destination's directory, are
// flushed and fsync'ed, then renamed over PATH and the directory is fsync'ed. A crash or an error
// at any point leaves either the old file or the complete new one at PATH, never a torn file; on
// error the temp file is removed and promoe::Error (or the producer's own exception) propagates.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace promoe::io {

// Appends bytes to the file being written; throws promoe::Error when the write fails.
using ByteSink = std::function<void(const void* data, size_t nbytes)>;

// Calls `produce` with a sink into the temp file, then commits it to `path`.
void write_file_atomic(const std::string& path, const std::function<void(const ByteSink&)>& produce);

// Writes `bytes` as the whole content of `path`, atomically.
void write_file_atomic(const std::string& path, std::string_view bytes);

// The temp file name used for `path` by this process: "<path>.tmp.<pid>".
std::string atomic_temp_path(const std::string& path);

// Removes the temp files of `path` ("<path>.tmp.<pid>") that a killed writer left behind: those
// whose process no longer runs. Returns how many were removed.
int remove_stale_temp_files(const std::string& path);

}  // namespace promoe::io
