#include "config/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace vs::config {
namespace {

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string temp_prefix(const std::string& path) {
  return "." + base_of(path) + ".tmp-";
}

std::string message(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// What an operator can do about a failed write.
std::string fix_for(int err, const std::string& dir) {
  switch (err) {
    case EROFS:
      return "the file system is read-only: remount " + dir + " read-write";
    case ENOSPC:
    case EDQUOT:
      return "the disk is full: free space on the file system of " + dir;
    case EACCES:
    case EPERM:
      return "vswitchd may not write there: check the permissions of " + dir;
    default:
      return "make " + dir + " a writable directory";
  }
}

bool fail(std::string& error, const std::string& what, const std::string& path, int err,
          const std::string& dir) {
  error = "cannot " + what + " " + path + ": " + message(err) + " (" + fix_for(err, dir) + ")";
  return false;
}

int fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  errno = err;
  return rc;
}

// mkdir -p of `dir` (0755), each new level fsync'ed into its parent.
bool make_dir(const std::string& dir, std::string& error) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    return fail(error, "create the directory", dir, ENOTDIR, dir_of(dir));
  }
  const std::string parent = dir_of(dir);
  if (parent != dir && !make_dir(parent, error)) return false;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return fail(error, "create the directory", dir, errno, parent);
  fsync_dir(parent);
  return true;
}

}  // namespace

FileOps default_file_ops() {
  return FileOps{&::rename, &::fsync};
}

bool write_file_atomically(const std::string& path, const std::string& text, std::string& error,
                           const FileOps& ops) {
  const std::string dir = dir_of(path);
  if (!make_dir(dir, error)) return false;
  std::string tmp = dir + "/" + temp_prefix(path) + "XXXXXX";
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return fail(error, "write", path, errno, dir);
  tmp = name.data();
  const auto give_up = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(error, what, path, err, dir);
  };
  if (::fchmod(fd, 0644) != 0) return give_up("write", errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return give_up("write", errno);
    done += static_cast<std::size_t>(n);
  }
  if (ops.fsync(fd) != 0) return give_up("write (fsync)", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(error, "write", path, err, dir);
  }
  if (ops.rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(error, "replace", path, err, dir);
  }
  if (fsync_dir(dir) != 0) return fail(error, "write (fsync of the directory)", path, errno, dir);
  return true;
}

bool remove_file_durably(const std::string& path, std::string& error) {
  const std::string dir = dir_of(path);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return true;
    return fail(error, "remove", path, errno, dir);
  }
  if (fsync_dir(dir) != 0) return fail(error, "remove (fsync of the directory)", path, errno, dir);
  return true;
}

void remove_stale_temp_files(const std::string& path) {
  const std::string dir = dir_of(path);
  const std::string prefix = temp_prefix(path);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) stale.push_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& n : stale) ::unlink((dir + "/" + n).c_str());
}

}  // namespace vs::config
