#include "saga/spool.h"

#include <memory>
#include <unordered_set>

#include "common/log.h"

namespace lameduck::saga {
namespace {

constexpr size_t kChunk = 64 * 1024;

// A read buffer of kChunk bytes, not zero-filled: it is always written
// (readAt) before it is read, and filling it cost more than the reads.
struct ChunkBuffer {
  std::unique_ptr<char[]> bytes = std::make_unique_for_overwrite<char[]>(kChunk);
  char* data() { return bytes.get(); }
  size_t size() const { return kChunk; }
  char operator[](size_t i) const { return bytes[i]; }
};

// Copies bytes [offset, offset + length) of `from` to the end of `to`.
Status copyRange(SpoolFile& from, int64_t offset, int64_t length, SpoolFile& to) {
  ChunkBuffer buf;
  while (length > 0) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(length, kChunk));
    auto n = from.readAt(offset, buf.data(), want);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return makeError(ErrorCode::kUnavailable, "spool file shrank while copying");
    if (auto st = to.append(std::string_view(buf.data(), *n)); !st) return st;
    offset += static_cast<int64_t>(*n);
    length -= static_cast<int64_t>(*n);
  }
  return {};
}

// The file a replay writes what it keeps to, beside the spool. Unless it
// was renamed over the spool or removed on purpose, it is removed when the
// replay ends: a replay that fails part-way (the disk full, a read error)
// leaves the spool as it was and does not hold the space.
class AsideFile {
 public:
  AsideFile(SpoolFiles& files, std::unique_ptr<SpoolFile> file, std::string path)
      : files_(files), file_(std::move(file)), path_(std::move(path)) {}
  AsideFile(const AsideFile&) = delete;
  AsideFile& operator=(const AsideFile&) = delete;
  ~AsideFile() {
    if (done_) return;
    file_.reset();
    if (auto st = files_.remove(path_); !st) {
      log::warn("could not remove the file a failed spool replay wrote aside",
                {{"file", path_}, {"error", st.error().message}});
    }
  }

  SpoolFile& file() { return *file_; }

  // Syncs, closes and renames the file to `target`.
  Status renameTo(const std::string& target) {
    if (auto st = file_->sync(); !st) return st;
    file_.reset();
    if (auto st = files_.rename(path_, target); !st) return st;
    done_ = true;
    return {};
  }

  // Closes and removes the file: nothing was kept.
  Status remove() {
    file_.reset();
    if (auto st = files_.remove(path_); !st) return st;
    done_ = true;
    return {};
  }

 private:
  SpoolFiles& files_;
  std::unique_ptr<SpoolFile> file_;
  const std::string path_;
  bool done_ = false;
};

// What a replay does with each line, in file order: records are handed to
// the stream in batches of `batch`; what the stream did not confirm, and
// every unreadable line byte for byte, is written to `out`, buffered up to
// kChunk. Once a batch writer says to stop, the rest is kept unread by the
// stream.
class ReplayCopy {
 public:
  ReplayCopy(const Spool::BatchWriter& write, size_t batch, SpoolFile& out)
      : write_(write), batch_(batch), out_(out) {
    pending_.reserve(std::min<size_t>(batch, 4096));
  }

  Status add(CompensationRecord record) {
    pending_.push_back(std::move(record));
    return pending_.size() >= batch_ ? flush() : Status{};
  }

  // Keeps bytes [offset, offset + length) of `in` for a person to look at.
  // The records before them are settled first (a short batch), so what is
  // kept stays in file order.
  Status keepUnreadable(SpoolFile& in, int64_t offset, int64_t length) {
    ++report_.unreadable;
    if (auto st = flush(); !st) return st;
    if (auto st = drain(); !st) return st;
    return copyRange(in, offset, length, out_);
  }

  // Settles the last batch and writes out what is buffered.
  Status finish() {
    if (auto st = flush(); !st) return st;
    return drain();
  }

  const ReplayReport& report() const { return report_; }

 private:
  Status flush() {
    if (pending_.empty()) return {};
    std::unordered_set<std::string> confirmed;
    if (writing_) {
      BatchOutcome o = write_(pending_);
      confirmed.insert(o.confirmed.begin(), o.confirmed.end());
      writing_ = o.keep_going;
    }
    for (const CompensationRecord& r : pending_) {
      if (confirmed.count(r.id)) {
        ++report_.handed;
        continue;
      }
      ++report_.kept;
      buf_ += toJsonLine(r);
      buf_ += '\n';
      if (buf_.size() >= kChunk) {
        if (auto st = drain(); !st) return st;
      }
    }
    pending_.clear();
    return {};
  }

  Status drain() {
    if (buf_.empty()) return {};
    if (auto st = out_.append(buf_); !st) return st;
    buf_.clear();
    return {};
  }

  const Spool::BatchWriter& write_;
  const size_t batch_;
  SpoolFile& out_;
  bool writing_ = true;
  std::vector<CompensationRecord> pending_;
  std::string buf_;
  ReplayReport report_;
};

}  // namespace

Spool::Spool(std::string dir, SpoolFiles& files)
    : files_(files), dir_(std::move(dir)), path_(dir_ + "/compensations.jsonl") {}

Result<int64_t> Spool::forEachLine(SpoolFile& file, const LineFn& line) {
  ChunkBuffer buf;
  std::string current;  // the line being assembled, unless overlong
  bool overlong = false;
  int64_t line_start = 0;
  int64_t offset = 0;
  for (;;) {
    auto n = file.readAt(offset, buf.data(), buf.size());
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    std::string_view chunk(buf.data(), *n);
    size_t pos = 0;
    while (pos < chunk.size()) {
      const size_t eol = chunk.find('\n', pos);
      const size_t end = eol == std::string_view::npos ? chunk.size() : eol;
      if (!overlong) {
        if (current.size() + (end - pos) > kMaxSpoolLineBytes) {
          overlong = true;
          current.clear();
          current.shrink_to_fit();
        } else {
          current.append(chunk.substr(pos, end - pos));
        }
      }
      if (eol == std::string_view::npos) break;
      const int64_t eol_at = offset + static_cast<int64_t>(eol);
      std::optional<std::string_view> text;
      if (!overlong) text = current;
      if (auto st = line(line_start, eol_at - line_start, text); !st) {
        return std::unexpected(st.error());
      }
      current.clear();
      overlong = false;
      line_start = eol_at + 1;
      pos = eol + 1;
    }
    offset += static_cast<int64_t>(*n);
  }
  return offset > line_start ? 1 : 0;
}

Result<std::unique_ptr<SpoolFile>> Spool::openForReading() const {
  auto f = files_.open(path_, SpoolFiles::Mode::kRead);
  if (!f && f.error().code == ErrorCode::kNotFound) return std::unique_ptr<SpoolFile>();
  return f;
}

Result<int64_t> Spool::repairTail(SpoolFile& file) {
  auto size = file.size();
  if (!size) return size;
  if (*size == 0) return 0;
  char last = 0;
  auto n = file.readAt(*size - 1, &last, 1);
  if (!n) return std::unexpected(n.error());
  if (*n == 1 && last == '\n') return *size;
  // Find the end of the last complete line, scanning back a chunk at a time.
  int64_t good = 0;
  ChunkBuffer buf;
  for (int64_t end = *size; end > 0 && good == 0;) {
    const int64_t start = std::max<int64_t>(0, end - static_cast<int64_t>(kChunk));
    auto got = file.readAt(start, buf.data(), static_cast<size_t>(end - start));
    if (!got) return std::unexpected(got.error());
    std::string_view view(buf.data(), *got);
    if (size_t nl = view.rfind('\n'); nl != std::string_view::npos) {
      good = start + static_cast<int64_t>(nl) + 1;
    }
    end = start;
  }
  ++torn_repaired_;
  if (auto cut = file.truncate(good); cut) {
    log::warn("cut back a torn spool tail (a cut-off line of an append that failed; never acked)",
              {{"spool", path_}, {"bytes", *size - good}, {"offset", good}});
    return good;
  } else {
    // Fence it instead: the fragment becomes one unreadable line.
    if (auto fence = file.append("\n"); !fence) {
      return makeError(ErrorCode::kUnavailable,
                       "spool " + path_ + " ends in a torn line that can be neither cut (" +
                           cut.error().message + ") nor fenced (" + fence.error().message +
                           "); not appending");
    }
    log::warn("fenced a torn spool tail with a newline; replay will count it as unreadable",
              {{"spool", path_}, {"bytes", *size - good}, {"error", cut.error().message}});
    return *size + 1;
  }
}

Status Spool::append(const std::vector<CompensationRecord>& records) {
  if (records.empty()) return {};
  if (auto st = files_.createDirs(dir_); !st) return st;
  auto lock = files_.lock(dir_ + "/.lock");
  if (!lock) return std::unexpected(lock.error());
  auto existed = files_.exists(path_);
  if (!existed) return std::unexpected(existed.error());
  auto file = files_.open(path_, SpoolFiles::Mode::kAppend);
  if (!file) return std::unexpected(file.error());
  SpoolFile& f = **file;
  auto start = repairTail(f);
  if (!start) return std::unexpected(start.error());

  // On any failure from here on, cut back what this append wrote.
  auto rollback = [&](const Error& failure) -> Status {
    if (auto cut = f.truncate(*start); cut && f.sync()) {
      return makeError(failure.code, failure.message + " (the spool was cut back to its " +
                                         std::to_string(*start) + " bytes before this append)");
    }
    return makeError(failure.code, failure.message +
                                       " (and cutting the spool back failed; the next append "
                                       "cuts the partial line back)");
  };
  std::string buf;
  buf.reserve(kChunk + 1024);
  for (const CompensationRecord& r : records) {
    buf += toJsonLine(r);
    buf += '\n';
    if (buf.size() >= kChunk) {
      if (auto st = f.append(buf); !st) return rollback(st.error());
      buf.clear();
    }
  }
  if (!buf.empty()) {
    if (auto st = f.append(buf); !st) return rollback(st.error());
  }
  if (auto st = f.sync(); !st) return rollback(st.error());
  if (!*existed) return files_.syncDir(dir_);
  return {};
}

Result<SpoolContents> Spool::read() const {
  SpoolContents out;
  auto file = openForReading();
  if (!file) return std::unexpected(file.error());
  if (!*file) return out;
  auto torn = forEachLine(**file, [&](int64_t, int64_t, std::optional<std::string_view> text) {
    if (text && text->empty()) return Status{};
    auto r = text ? fromJsonLine(*text) : makeError(ErrorCode::kBadResponse, "overlong");
    if (r) {
      out.records.push_back(std::move(*r));
    } else {
      out.unreadable.emplace_back(text ? std::string(*text) : std::string("<overlong line>"));
    }
    return Status{};
  });
  if (!torn) return std::unexpected(torn.error());
  out.torn_lines = *torn;
  return out;
}

Result<SpoolStats> Spool::scan() const {
  SpoolStats out;
  auto file = openForReading();
  if (!file) return std::unexpected(file.error());
  if (!*file) return out;
  auto torn = forEachLine(**file, [&](int64_t, int64_t, std::optional<std::string_view> text) {
    if (text && text->empty()) return Status{};
    (text && fromJsonLine(*text) ? out.records : out.unreadable)++;
    return Status{};
  });
  if (!torn) return std::unexpected(torn.error());
  out.torn_lines = *torn;
  return out;
}

Result<int64_t> Spool::lineCount() const {
  auto file = openForReading();
  if (!file) return std::unexpected(file.error());
  if (!*file) return 0;
  ChunkBuffer buf;
  int64_t lines = 0;
  char previous = '\n';
  for (int64_t offset = 0;;) {
    auto n = (*file)->readAt(offset, buf.data(), buf.size());
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    for (size_t i = 0; i < *n; ++i) {
      if (buf[i] == '\n' && previous != '\n') ++lines;
      previous = buf[i];
    }
    offset += static_cast<int64_t>(*n);
  }
  return lines;
}

Result<ReplayReport> Spool::replay(const BatchWriter& write, size_t batch) {
  auto exists = files_.exists(dir_);
  if (!exists) return std::unexpected(exists.error());
  if (!*exists) return ReplayReport{};
  auto lock = files_.lock(dir_ + "/.lock");
  if (!lock) return std::unexpected(lock.error());
  auto file = openForReading();
  if (!file) return std::unexpected(file.error());
  if (!*file) return ReplayReport{};
  SpoolFile& in = **file;
  const std::string tmp_path = path_ + ".tmp";
  auto tmp = files_.open(tmp_path, SpoolFiles::Mode::kCreate);
  if (!tmp) return std::unexpected(tmp.error());
  AsideFile aside(files_, std::move(*tmp), tmp_path);
  ReplayCopy copy(write, batch, aside.file());
  auto torn = forEachLine(
      in, [&](int64_t offset, int64_t length, std::optional<std::string_view> text) -> Status {
        if (text && text->empty()) return {};
        if (text) {
          if (auto r = fromJsonLine(*text); r) return copy.add(std::move(*r));
        }
        return copy.keepUnreadable(in, offset, length + 1);
      });
  if (!torn) return std::unexpected(torn.error());
  if (auto st = copy.finish(); !st) return std::unexpected(st.error());
  ReplayReport report = copy.report();
  report.torn_lines = *torn;
  // Replace the file only once the stream has what is dropped from it.
  if (report.kept == 0 && report.unreadable == 0) {
    if (auto st = aside.remove(); !st) return std::unexpected(st.error());
    if (auto st = files_.remove(path_); !st) return std::unexpected(st.error());
  } else {
    if (auto st = aside.renameTo(path_); !st) return std::unexpected(st.error());
  }
  if (auto st = files_.syncDir(dir_); !st) return std::unexpected(st.error());
  return report;
}

}  // namespace lameduck::saga
