// The spool's durability rules (docs/compensation.md, "Spool durability"):
// a torn tail is cut back (or fenced) before any append, a failed append is
// truncated back, replay counts what it cannot read. Over the in-memory file
// system with failure switches, and over a real 64 KiB tmpfs that fills up.

#include "saga/spool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "fakes/saga.h"
#include "support/harness.h"

namespace lameduck::saga {
namespace {

using fakes::makeRecords;
using fakes::MemorySpoolFiles;
using ::testing::EndsWith;
using ::testing::HasSubstr;

std::string lines(const std::vector<CompensationRecord>& records) {
  std::string out;
  for (const auto& r : records) out += toJsonLine(r) + "\n";
  return out;
}

BatchOutcome confirmAll(const std::vector<CompensationRecord>& records) {
  BatchOutcome o;
  for (const auto& r : records) o.confirmed.push_back(r.id);
  return o;
}

TEST(Spool, ATornTailIsCutBackBeforeTheNextAppend) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(2, "a-")));
  // A crash or a full disk during the previous append left a cut-off line.
  files.setContent(spool.path(), files.content(spool.path()) + "{\"id\":\"torn\",\"saga_");
  ASSERT_TRUE(spool.append(makeRecords(3, "b-")));
  EXPECT_EQ(files.content(spool.path()), lines(makeRecords(2, "a-")) + lines(makeRecords(3, "b-")));
  EXPECT_EQ(spool.tornTailsRepaired(), 1);
  auto stats = spool.scan();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->records, 5);
  EXPECT_EQ(stats->unreadable, 0);
  EXPECT_EQ(stats->torn_lines, 0);
}

TEST(Spool, ATornTailThatCannotBeCutIsFencedAndCountedAsUnreadable) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  files.setContent(spool.path(), lines(makeRecords(1, "a-")) + "{\"id\":\"to");
  files.fail_truncate = true;
  ASSERT_TRUE(spool.append(makeRecords(2, "b-")));
  auto contents = spool.read();
  ASSERT_TRUE(contents);
  ASSERT_EQ(contents->records.size(), 3u);  // the new records are whole, not glued on
  EXPECT_EQ(contents->records[1].id, "b-0");
  EXPECT_EQ(contents->unreadable, std::vector<std::string>{"{\"id\":\"to"});
}

TEST(Spool, AnAppendThatFillsTheDiskIsCutBackToTheLastGoodOffset) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(3, "a-")));
  const std::string before = files.content(spool.path());
  files.capacity = static_cast<int64_t>(before.size()) + 300;  // one and a bit records
  auto st = spool.append(makeRecords(100, "b-"));
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message, HasSubstr("No space left on device"));
  EXPECT_THAT(st.error().message, HasSubstr("cut back"));
  EXPECT_EQ(files.content(spool.path()), before);
  // Space comes back (the next exit): appends and reads are whole.
  files.capacity.reset();
  ASSERT_TRUE(spool.append(makeRecords(2, "c-")));
  auto stats = spool.scan();
  EXPECT_EQ(stats->records, 5);
  EXPECT_EQ(stats->unreadable, 0);
}

TEST(Spool, AFailedFsyncIsCutBackToo) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(1, "a-")));
  files.fail_sync = true;
  EXPECT_FALSE(spool.append(makeRecords(5, "b-")));
  EXPECT_EQ(files.content(spool.path()), lines(makeRecords(1, "a-")));
}

TEST(Spool, WhenCuttingBackFailsTooTheNextAppendRepairsTheTail) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(1, "a-")));
  files.capacity = static_cast<int64_t>(files.content(spool.path()).size()) + 50;
  files.fail_truncate = true;
  auto st = spool.append(makeRecords(10, "b-"));
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message, HasSubstr("cutting the spool back failed"));
  files.capacity.reset();
  files.fail_truncate = false;
  ASSERT_TRUE(spool.append(makeRecords(1, "c-")));
  auto contents = spool.read();
  ASSERT_TRUE(contents) << contents.error().message;
  ASSERT_EQ(contents->records.size(), 2u);
  EXPECT_EQ(contents->records[1].id, "c-0");
  EXPECT_TRUE(contents->unreadable.empty());
}

TEST(Spool, ReplayCountsAndKeepsUnreadableLinesAndDropsATornTail) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  files.setContent(spool.path(), lines(makeRecords(2, "a-")) + "not json\n" + "{\"id\":\"x\"}\n" +
                                     lines(makeRecords(2, "b-")) + "{\"id\":\"torn");
  auto report = spool.replay(confirmAll);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->handed, 4);
  EXPECT_EQ(report->kept, 0);
  EXPECT_EQ(report->unreadable, 2);
  EXPECT_EQ(report->torn_lines, 1);
  // The unreadable lines stay, byte for byte, for a person to look at.
  EXPECT_EQ(files.content(spool.path()), "not json\n{\"id\":\"x\"}\n");
}

TEST(Spool, ReplayKeepsRecordsAndUnreadableLinesInFileOrder) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  const std::string text = lines(makeRecords(2, "a-")) + "not json\n" + lines(makeRecords(2, "b-")) +
                           "{\"id\":\"x\"}\n" + lines(makeRecords(1, "c-"));
  files.setContent(spool.path(), text);
  std::vector<size_t> batches;
  auto report = spool.replay(
      [&](const std::vector<CompensationRecord>& records) {
        batches.push_back(records.size());
        return BatchOutcome{};  // confirms nothing: everything is kept
      },
      10);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->kept, 5);
  EXPECT_EQ(report->unreadable, 2);
  EXPECT_EQ(files.content(spool.path()), text);
  EXPECT_EQ(batches, (std::vector<size_t>{2, 2, 1})) << "a batch ends at an unreadable line";
}

TEST(Spool, ReplayStopsWritingWhenTheStreamFailsAndKeepsTheRestInOrder) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(25)));
  int calls = 0;
  auto report = spool.replay(
      [&](const std::vector<CompensationRecord>& records) {
        ++calls;
        BatchOutcome o;
        o.confirmed.push_back(records.front().id);
        o.keep_going = false;
        return o;
      },
      10);
  ASSERT_TRUE(report);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(report->handed, 1);
  EXPECT_EQ(report->kept, 24);
  auto left = spool.read();
  ASSERT_TRUE(left) << left.error().message;
  ASSERT_EQ(left->records.size(), 24u);
  EXPECT_EQ(left->records.front().id, "c-1");
  EXPECT_EQ(left->records.back().id, "c-24");
}

TEST(Spool, AReplayWhoseRenameFailsLeavesTheSpoolAsItWas) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(5)));
  const std::string before = files.content(spool.path());
  files.fail_rename = true;
  auto report = spool.replay([](const std::vector<CompensationRecord>& records) {
    BatchOutcome o;
    o.confirmed.push_back(records.front().id);
    return o;
  });
  ASSERT_FALSE(report);
  EXPECT_EQ(files.content(spool.path()), before);
}

TEST(Spool, AReplayThatFailsPartWayRemovesWhatItWroteAside) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(200)));
  const std::string before = files.content(spool.path());
  // The disk fills up while the replay writes aside what the stream kept.
  files.capacity = static_cast<int64_t>(before.size()) + 100;
  auto report = spool.replay([](const std::vector<CompensationRecord>&) { return BatchOutcome{}; });
  ASSERT_FALSE(report);
  EXPECT_THAT(report.error().message, HasSubstr("No space left on device"));
  EXPECT_EQ(files.content(spool.path()), before);
  EXPECT_FALSE(files.fileExists(spool.path() + ".tmp"));
  // Once there is space again, the replay goes through.
  files.capacity.reset();
  auto again = spool.replay(confirmAll);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->handed, 200);
}

TEST(Spool, AReplayWhoseRenameFailsRemovesWhatItWroteAside) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  ASSERT_TRUE(spool.append(makeRecords(5)));
  files.fail_rename = true;
  auto report = spool.replay([](const std::vector<CompensationRecord>&) { return BatchOutcome{}; });
  ASSERT_FALSE(report);
  EXPECT_FALSE(files.fileExists(spool.path() + ".tmp"));
}

// The line bound follows from the entry bound: the largest entry the app
// may hand over, escaped as badly as it can be, still reads back.
TEST(Spool, TheLargestEntryFitsTheLineBound) {
  static_assert(kMaxSpoolLineBytes < 8 * 1024 * 1024, "a line must not cost the pod's memory");
  MemorySpoolFiles files;
  Spool spool("/s", files);
  app::Compensation c{"id-1", "saga-1", "step", "refund", ""};
  // A JSON string of quotes: each escapes to 2 bytes in the payload, 4 in the line.
  const size_t quotes = (app::kMaxCompensationBytes - 100) / 2;
  c.payload_json = "\"";
  for (size_t i = 0; i < quotes; ++i) c.payload_json += "\\\"";
  c.payload_json += "\"";
  ASSERT_LE(c.payload_json.size() + 20, app::kMaxCompensationBytes);
  ASSERT_TRUE(
      spool.append({makeRecord(c, Origin{"svc", "ns", "pod", "rev"}, "2026-01-01T00:00:00Z")}));
  EXPECT_GT(files.content(spool.path()).size(), 2 * quotes * 2);
  auto read = spool.read();
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->records.size(), 1u);
  EXPECT_EQ(read->records[0].payload, c.payload_json);
  EXPECT_TRUE(read->unreadable.empty());
  // A line past the bound is unreadable, and kept as it is.
  files.setContent(spool.path(), files.content(spool.path()) +
                                     std::string(kMaxSpoolLineBytes + 1, 'x') + "\n");
  auto stats = spool.scan();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->records, 1);
  EXPECT_EQ(stats->unreadable, 1);
}

TEST(Spool, HostileLinesAreUnreadableNotFatal) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  std::string deep(100'000, '[');
  files.setContent(spool.path(), deep + "\n" + "{\"id\":1,\"saga_id\":\"s\",\"action\":\"a\"}\n" +
                                     "[]\n\"text\"\n" + lines(makeRecords(1)));
  auto contents = spool.read();
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->records.size(), 1u);
  EXPECT_EQ(contents->unreadable.size(), 4u);  // a numeric id is not an id
}

TEST(Spool, IdsKeepTheirExactText) {
  MemorySpoolFiles files;
  Spool spool("/s", files);
  auto records = makeRecords(3);
  records[0].id = "18446744073709551615";
  records[1].id = "-1";
  records[2].id = "007";
  ASSERT_TRUE(spool.append(records));
  auto contents = spool.read();
  ASSERT_TRUE(contents) << contents.error().message;
  ASSERT_EQ(contents->records.size(), 3u);
  EXPECT_EQ(contents->records[0].id, "18446744073709551615");
  EXPECT_EQ(contents->records[1].id, "-1");
  EXPECT_EQ(contents->records[2].id, "007");
}

// A real, small tmpfs that fills up: the kernel's ENOSPC in the middle of
// an append, then space freed for the next exit.
class SmallTmpfs {
 public:
  SmallTmpfs() {
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=64k") == 0) {
      mounted_ = true;
    } else {
      why_ = std::strerror(errno);
    }
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  std::string file(const std::string& name) const { return dir_.file(name); }

 private:
  testing::TempDir dir_;
  bool mounted_ = false;
  std::string why_;
};

TEST(SpoolOnTmpfs, AFullDiskNeverLeavesAGluedRecordAndTheNextExitAppendsCleanly) {
  SmallTmpfs fs;
  if (!fs.mounted()) {
    GTEST_SKIP() << "cannot mount a 64 KiB tmpfs here (" << fs.why()
                 << "); needs root or CAP_SYS_ADMIN";
  }
  Spool spool(fs.file("spool"));
  ASSERT_TRUE(spool.append(makeRecords(10, "a-")));
  // Something else fills the disk.
  {
    std::ofstream filler(fs.file("filler"), std::ios::binary);
    std::string block(4096, 'x');
    for (int i = 0; i < 64 && filler; ++i) filler.write(block.data(), block.size());
  }
  int failed = 0;
  for (int exit = 0; exit < 3; ++exit) {
    auto st = spool.append(makeRecords(200, "b" + std::to_string(exit) + "-"));
    if (!st) {
      ++failed;
      EXPECT_THAT(st.error().message, HasSubstr("No space left on device"));
    }
  }
  EXPECT_GT(failed, 0) << "the disk never filled up; nothing was tested";
  std::ifstream in(spool.path(), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, EndsWith("\n"));
  // Space is freed; the next exit's records land whole.
  ASSERT_EQ(::unlink(fs.file("filler").c_str()), 0);
  ASSERT_TRUE(spool.append(makeRecords(5, "next-")));
  auto stats = spool.scan();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->unreadable, 0);
  EXPECT_EQ(stats->torn_lines, 0);
  auto report = spool.replay(confirmAll);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->unreadable, 0);
  EXPECT_EQ(report->handed, stats->records);
  EXPECT_GE(report->handed, 15);
}

TEST(SpoolOnTmpfs, ATornTailLeftByACrashIsCutBack) {
  SmallTmpfs fs;
  if (!fs.mounted()) {
    GTEST_SKIP() << "cannot mount a 64 KiB tmpfs here (" << fs.why()
                 << "); needs root or CAP_SYS_ADMIN";
  }
  Spool spool(fs.file("spool"));
  ASSERT_TRUE(spool.append(makeRecords(2, "a-")));
  std::ofstream(spool.path(), std::ios::app) << "{\"id\":\"torn\",\"saga_";
  ASSERT_TRUE(spool.append(makeRecords(2, "b-")));
  auto contents = spool.read();
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->records.size(), 4u);
  EXPECT_TRUE(contents->unreadable.empty());
  EXPECT_EQ(contents->torn_lines, 0);
}

}  // namespace
}  // namespace lameduck::saga
