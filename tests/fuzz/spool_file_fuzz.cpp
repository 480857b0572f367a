// libFuzzer target: the spool FILE (saga::Spool) as a crash, a full disk or
// a person's edit may leave it, through the operations the sidecar and
// `lameduck spool replay` run on it. spool_fuzz.cpp parses single lines;
// this one reads, repairs, appends to and replays whole files.
//
// Input: the first byte steers the fake stream (which records it confirms,
// when it stops, the batch size); the rest is written, as it is, to
// compensations.jsonl in a directory made once per process (on /dev/shm
// when there is one, so the spool's fsyncs stay cheap) and removed at exit.
//
// Properties (a violation aborts):
// - nothing crashes, throws or fails on a readable directory;
// - scan(), read() and lineCount() agree with each other and with the text:
//   every complete non-empty line is either a record (those fromJsonLine
//   reads) or unreadable, and a last line without a newline is one torn line;
// - after append() of one record, the file reads back as the records before,
//   then the new one, and the same unreadable lines: a torn tail was cut,
//   nothing readable was lost, nothing was glued;
// - replay() through a fake stream hands over what it confirmed and keeps,
//   in file order, every other record and every unreadable line byte for
//   byte; its report counts each kind.
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run spool_file`).

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "saga/record.h"
#include "saga/spool.h"

namespace {

using lameduck::saga::CompensationRecord;
using lameduck::saga::Spool;

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "spool_file property violated: %s\n", what);
  std::abort();
}

// The spool's directory, made on first use and removed when the process
// exits normally (a crash leaves it, with the input, for a look).
const std::string& spoolDir() {
  struct Dir {
    std::string path;
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir = [] {
    std::string base = "/tmp";
    if (const char* t = std::getenv("TMPDIR"); t && *t) base = t;
    if (access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    std::string pattern = base + "/lameduck-spool-fuzz-XXXXXX";
    check(mkdtemp(pattern.data()) != nullptr, "cannot make the spool directory");
    return Dir{pattern};
  }();
  return dir.path;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One complete non-empty line of the file as the spool should see it: a
// record (canonical text) or an unreadable line (its bytes).
struct Line {
  std::optional<CompensationRecord> record;
  std::string text;
};

struct Expected {
  std::vector<Line> lines;  // complete non-empty lines, in order
  int64_t records = 0;
  int64_t torn = 0;
};

Expected expect(std::string_view text) {
  Expected e;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    if (eol == std::string_view::npos) {
      e.torn = 1;
      break;
    }
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (line.empty()) continue;
    Line l;
    l.text = std::string(line);
    if (line.size() <= lameduck::saga::kMaxSpoolLineBytes) {
      if (auto r = lameduck::saga::fromJsonLine(line)) l.record = std::move(*r);
    }
    if (l.record) ++e.records;
    e.lines.push_back(std::move(l));
  }
  return e;
}

bool sameRecord(const CompensationRecord& a, const CompensationRecord& b) {
  return lameduck::saga::toJsonLine(a) == lameduck::saga::toJsonLine(b);
}

// read() matches `e` line for line; scan() and lineCount() count the same.
void checkReadsAs(const Spool& spool, const Expected& e, const char* when) {
  auto contents = spool.read();
  check(contents.has_value(), when);
  auto stats = spool.scan();
  check(stats.has_value(), when);
  auto count = spool.lineCount();
  check(count.has_value(), when);
  const int64_t unreadable = static_cast<int64_t>(e.lines.size()) - e.records;
  check(stats->records == e.records, "scan: records");
  check(stats->unreadable == unreadable, "scan: unreadable lines");
  check(stats->torn_lines == e.torn, "scan: torn lines");
  check(*count == static_cast<int64_t>(e.lines.size()), "lineCount: complete non-empty lines");
  check(static_cast<int64_t>(contents->records.size()) == e.records, "read: records");
  check(static_cast<int64_t>(contents->unreadable.size()) == unreadable, "read: unreadable");
  check(contents->torn_lines == e.torn, "read: torn lines");
  size_t r = 0;
  size_t u = 0;
  for (const Line& l : e.lines) {
    if (l.record) {
      check(sameRecord(contents->records[r++], *l.record), "read: a record changed");
    } else if (l.text.size() <= lameduck::saga::kMaxSpoolLineBytes) {
      check(contents->unreadable[u++] == l.text, "read: an unreadable line changed");
    } else {
      ++u;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t steer = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string& dir = spoolDir();
  Spool spool(dir);
  {
    std::ofstream out(spool.path(), std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    check(out.good(), "cannot write the spool file");
  }

  // Reading: three readers agree with the text.
  Expected before = expect(text);
  checkReadsAs(spool, before, "reading the file as written");

  // Appending one record: a torn tail is cut first, nothing else changes.
  static uint64_t appended = 0;
  CompensationRecord added;
  added.id = "fuzz-" + std::to_string(++appended);
  added.saga_id = "saga-fuzz";
  added.step = "step";
  added.action = "refund";
  added.payload = "{\"n\":1}";
  added.created_at = "2026-12-02T00:00:00.000Z";
  const int64_t repaired_before = spool.tornTailsRepaired();
  auto st = spool.append({added});
  check(st.has_value(), "append failed");
  check(spool.tornTailsRepaired() == repaired_before + before.torn, "append: torn tail repaired");
  Expected after = before;
  after.torn = 0;
  after.lines.push_back(Line{added, lameduck::saga::toJsonLine(added)});
  ++after.records;
  checkReadsAs(spool, after, "reading after an append");
  check(expect(readAll(spool.path())).lines.size() == after.lines.size(), "append: file lines");

  // Replaying through a fake stream that confirms some records (by the
  // steering byte's low bits and the record's position) and may stop.
  const size_t batch = 1 + ((steer >> 4) & 3);
  const int batches_before_stop = (steer >> 6) == 0 ? 1 << 30 : steer >> 6;
  size_t offered = 0;  // records handed to the stream so far, in file order
  int batches = 0;
  std::vector<bool> dropped;  // per readable record, in file order
  auto report = spool.replay(
      [&](const std::vector<CompensationRecord>& records) {
        check(!records.empty() && records.size() <= batch, "replay: batch size");
        lameduck::saga::BatchOutcome o;
        std::unordered_set<std::string> confirmed;
        for (const CompensationRecord& r : records) {
          if ((offered++ + steer) % 4 != 0 || (steer & 1)) confirmed.insert(r.id);
        }
        o.confirmed.assign(confirmed.begin(), confirmed.end());
        for (const CompensationRecord& r : records) dropped.push_back(confirmed.count(r.id) > 0);
        o.keep_going = ++batches < batches_before_stop;
        return o;
      },
      batch);
  check(report.has_value(), "replay failed");
  dropped.resize(static_cast<size_t>(after.records), false);  // never offered: kept
  Expected left;
  size_t index = 0;
  int64_t handed = 0;
  for (const Line& l : after.lines) {
    if (l.record && dropped[index++]) {
      ++handed;
      continue;
    }
    if (l.record) ++left.records;
    left.lines.push_back(l);
  }
  check(report->handed == handed, "replay: handed");
  check(report->kept == left.records, "replay: kept");
  check(report->unreadable == static_cast<int64_t>(after.lines.size()) - after.records,
        "replay: unreadable");
  check(report->torn_lines == 0, "replay: torn lines (the append cut it)");
  checkReadsAs(spool, left, "reading after a replay");
  // What is left is, line for line and in order, what was not handed over.
  const Expected file = expect(readAll(spool.path()));
  check(file.lines.size() == left.lines.size(), "replay: lines left");
  for (size_t i = 0; i < left.lines.size(); ++i) {
    const Line& want = left.lines[i];
    const Line& got = file.lines[i];
    check(want.record.has_value() == got.record.has_value(), "replay: order of what is kept");
    if (want.record) {
      check(sameRecord(*want.record, *got.record), "replay: a kept record changed");
    } else {
      check(want.text == got.text, "replay: an unreadable line changed");
    }
  }
  return 0;
}
