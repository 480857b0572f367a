#include "saga/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace lameduck::saga {
namespace {

std::unexpected<Error> sysError(const std::string& what, const std::string& path) {
  return makeError(ErrorCode::kUnavailable, what + " " + path + ": " + std::strerror(errno));
}

class PosixFile final : public SpoolFile {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Result<int64_t> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return sysError("cannot stat", path_);
    return static_cast<int64_t>(st.st_size);
  }

  Result<size_t> readAt(int64_t offset, char* buf, size_t n) override {
    for (;;) {
      ssize_t got = ::pread(fd_, buf, n, offset);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return sysError("cannot read", path_);
    }
  }

  Status append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sysError("cannot write", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  Status truncate(int64_t size) override {
    if (::ftruncate(fd_, size) != 0) return sysError("cannot truncate", path_);
    return {};
  }

  Status sync() override {
    if (::fsync(fd_) != 0) return sysError("cannot fsync", path_);
    return {};
  }

 private:
  int fd_;
  std::string path_;
};

class PosixLock final : public SpoolLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

}  // namespace

Status PosixSpoolFiles::createDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return makeError(ErrorCode::kUnavailable,
                     "cannot create spool directory " + dir + ": " + ec.message());
  }
  return {};
}

Result<bool> PosixSpoolFiles::exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return sysError("cannot stat", path);
}

Result<std::unique_ptr<SpoolFile>> PosixSpoolFiles::open(const std::string& path, Mode mode) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case Mode::kRead:
      flags |= O_RDONLY;
      break;
    case Mode::kAppend:
      flags |= O_RDWR | O_APPEND | O_CREAT;
      break;
    case Mode::kCreate:
      flags |= O_WRONLY | O_CREAT | O_TRUNC;
      break;
  }
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    if (errno == ENOENT && mode == Mode::kRead) {
      return makeError(ErrorCode::kNotFound, "no spool file " + path);
    }
    return sysError("cannot open", path);
  }
  return std::make_unique<PosixFile>(fd, path);
}

Result<std::unique_ptr<SpoolLock>> PosixSpoolFiles::lock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return sysError("cannot open lock file", path);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    auto err = sysError("cannot lock", path);
    ::close(fd);
    return err;
  }
  return std::make_unique<PosixLock>(fd);
}

Status PosixSpoolFiles::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return sysError("cannot rename " + from + " to", to);
  return {};
}

Status PosixSpoolFiles::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sysError("cannot remove", path);
  return {};
}

Status PosixSpoolFiles::syncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sysError("cannot open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return sysError("cannot fsync", dir);
  return {};
}

PosixSpoolFiles& PosixSpoolFiles::instance() {
  static PosixSpoolFiles files;
  return files;
}

}  // namespace lameduck::saga
