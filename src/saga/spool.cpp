#include "saga/spool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

namespace lameduck::saga {
namespace {

std::string sysError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// An exclusive flock held for the life of the object.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

Status writeAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return makeError(ErrorCode::kUnavailable, sysError("cannot write", path));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status fsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, sysError("cannot open", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return makeError(ErrorCode::kUnavailable, sysError("cannot fsync", dir));
  return {};
}

}  // namespace

Spool::Spool(std::string dir) : dir_(std::move(dir)), path_(dir_ + "/compensations.jsonl") {}

Status Spool::append(const std::vector<CompensationRecord>& records) {
  if (records.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    return makeError(ErrorCode::kUnavailable,
                     "cannot create spool directory " + dir_ + ": " + ec.message());
  }
  FileLock lock(dir_ + "/.lock");
  if (!lock.ok())
    return makeError(ErrorCode::kUnavailable, sysError("cannot lock", dir_ + "/.lock"));
  const bool existed = std::filesystem::exists(path_, ec);
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, sysError("cannot open spool", path_));
  std::string data;
  for (const CompensationRecord& r : records) data += toJsonLine(r) + "\n";
  Status st = writeAll(fd, data, path_);
  if (st && ::fsync(fd) != 0) {
    st = makeError(ErrorCode::kUnavailable, sysError("cannot fsync spool", path_));
  }
  ::close(fd);
  if (!st) return st;
  if (!existed) return fsyncDir(dir_);
  return {};
}

Result<SpoolContents> Spool::read() const {
  SpoolContents out;
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return makeError(ErrorCode::kUnavailable, sysError("cannot open spool", path_));
  }
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return makeError(ErrorCode::kUnavailable, sysError("cannot read spool", path_));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) {  // cut off by a crash mid-append: never acked
      out.torn_lines++;
      break;
    }
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) continue;
    auto r = fromJsonLine(line);
    if (r) {
      out.records.push_back(std::move(*r));
    } else {
      out.unreadable.emplace_back(line);
    }
  }
  return out;
}

Result<int64_t> Spool::replay(const Writer& write) {
  FileLock lock(dir_ + "/.lock");
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) return 0;
  if (!lock.ok())
    return makeError(ErrorCode::kUnavailable, sysError("cannot lock", dir_ + "/.lock"));
  auto contents = read();
  if (!contents) return std::unexpected(contents.error());
  if (contents->records.empty() && contents->torn_lines == 0) return 0;
  std::vector<std::string> done =
      contents->records.empty() ? std::vector<std::string>{} : write(contents->records);
  std::set<std::string> confirmed(done.begin(), done.end());
  std::string keep;
  int64_t handed = 0;
  for (const CompensationRecord& r : contents->records) {
    if (confirmed.count(r.id)) {
      ++handed;
    } else {
      keep += toJsonLine(r) + "\n";
    }
  }
  for (const std::string& line : contents->unreadable) keep += line + "\n";
  // Replace the file only once the stream has what is dropped from it:
  // write the remainder aside, fsync, rename over, fsync the directory.
  if (keep.empty()) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return makeError(ErrorCode::kUnavailable, sysError("cannot remove spool", path_));
    }
    if (auto st = fsyncDir(dir_); !st) return std::unexpected(st.error());
    return handed;
  }
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, sysError("cannot open", tmp));
  Status st = writeAll(fd, keep, tmp);
  if (st && ::fsync(fd) != 0)
    st = makeError(ErrorCode::kUnavailable, sysError("cannot fsync", tmp));
  ::close(fd);
  if (!st) return std::unexpected(st.error());
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return makeError(ErrorCode::kUnavailable, sysError("cannot replace spool", path_));
  }
  if (auto d = fsyncDir(dir_); !d) return std::unexpected(d.error());
  return handed;
}

}  // namespace lameduck::saga
