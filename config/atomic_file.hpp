// Durable, atomic replacement and removal of a small file (the drop-ins vswitchd writes).
//
// write_file_atomically(path, text): the text goes to a temp file in the same directory,
// ".<name>.tmp-XXXXXX" (hidden and not ending in ".toml", so the config loader never merges a
// leftover one), which is fsync'ed, renamed over `path` and the directory fsync'ed. A reader, or
// a crash at any instruction, sees the old file or the new one, never a mix or a truncated one.
// On failure the temp file is removed, `path` is untouched, and `error` names the path, the
// reason and the fix. The directory is created (0755) if absent.
#pragma once
#include <string>

namespace vs::config {

// The system calls the writer makes that can fail; tests replace them to fail on purpose.
struct FileOps {
  int (*rename)(const char* from, const char* to);
  int (*fsync)(int fd);
};
FileOps default_file_ops();

bool write_file_atomically(const std::string& path, const std::string& text, std::string& error,
                           const FileOps& ops = default_file_ops());

// Unlinks `path` and fsyncs its directory; a missing file is success.
bool remove_file_durably(const std::string& path, std::string& error);

// Removes the temp files a crashed writer left for `path` (".<name>.tmp-*"); best effort.
void remove_stale_temp_files(const std::string& path);

}  // namespace vs::config
