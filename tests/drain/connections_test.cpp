// Socket-table parsing from recorded /proc/net/tcp{,6} text, the proc-root
// source against recorded files, and the real /proc with real sockets.

#include "drain/connections.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/harness.h"

namespace lameduck::drain {
namespace {

// Recorded from a pod: app listening on 8080 (0x1F90), two inbound
// connections, one in TIME_WAIT, lameduck's own status connection over
// loopback from port 54321 (0xD431, both ends visible), and an unrelated
// outbound connection.
constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "1001 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0A00000B:1F90 0A000001:C350 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "1002 1 0000000000000000 20 4 30 10 -1\n"
    "   2: 0A00000B:1F90 0A000002:C351 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "1003 1 0000000000000000 20 4 30 10 -1\n"
    "   3: 0A00000B:1F90 0A000003:C352 06 00000000:00000000 03:00000C11 00000000     0        0 0 "
    "3 0000000000000000\n"
    "   4: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "1004 1 0000000000000000 20 4 30 10 -1\n"
    "   5: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 "
    "4444 1 0000000000000000 20 4 30 10 -1\n"
    "   6: 0A00000B:9C40 0A0000FE:18EB 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "1005 1 0000000000000000 20 4 30 10 -1\n";

constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st tx_queue "
    "rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000  1000        0 2001 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0000000000000000FFFF00000B00000A:1F90 0000000000000000FFFF00000100000A:C353 01 "
    "00000000:00000000 00:00000000 00000000  1000        0 2002 1 0000000000000000 20 4 30 10 -1\n";

ConnectionSnapshot snapshotOf(const std::string& text, std::vector<uint16_t> ports,
                              std::set<uint16_t> own = {}) {
  ParsedTable t;
  parseProcNetTcp(text, t);
  return summarize(t, ports, own);
}

TEST(ParseProcNetTcp, FindsEstablishedAndListeningSocketsOnTrackedPorts) {
  ConnectionSnapshot s = snapshotOf(std::string(kTcp), {8080});
  EXPECT_EQ(s.listening, 1);
  EXPECT_EQ(s.established.size(), 3u);  // TIME_WAIT and the outbound one are not open
  // Seen in any state; the loopback connection's two ends are one connection.
  EXPECT_EQ(s.seen.size(), 4u);
  EXPECT_EQ(s.seen.count("0100007F:1F90->0100007F:D431"), 1u);
  EXPECT_EQ(s.malformed_lines, 0);
  ConnectionSnapshot v6 = snapshotOf(kTcp6, {8080});
  EXPECT_EQ(v6.listening, 1);
  EXPECT_EQ(v6.established.size(), 1u);
  EXPECT_EQ(snapshotOf(kTcp, {9090}).established.size(), 0u);
}

TEST(ParseProcNetTcp, LameducksOwnConnectionsToTheAppAreNotTraffic) {
  ConnectionSnapshot s = snapshotOf(kTcp, {8080}, {54321});
  EXPECT_EQ(s.established.size(), 2u);
  EXPECT_EQ(s.seen.size(), 3u);
  for (const auto& [key, conn] : s.seen) EXPECT_EQ(key.find("D431"), std::string::npos) << key;
}

TEST(ParseProcNetTcp, MalformedAndTruncatedLinesAreSkippedAndCounted) {
  std::string text =
      std::string(kTcp) +
      "garbage line\n"
      "   7: 0A00000B:1F90 0A000001:C3ZZ 01 00000000:00000000 00:00000000 00000000 0 0 9 1\n"
      "   8: 0A00000B:1F90\n"
      "   9: 0A00000B:1F90 0A000009:C399 01 00000000:00000000 00:00000000 00000000  1000        0 "
      "77";
  ConnectionSnapshot s = snapshotOf(text, {8080});
  EXPECT_EQ(s.established.size(), 3u);
  EXPECT_EQ(s.malformed_lines, 4);  // the last line has no newline: a torn read
  EXPECT_EQ(snapshotOf("", {8080}).established.size(), 0u);
  EXPECT_EQ(snapshotOf(std::string(4096, '\xff'), {8080}).established.size(), 0u);
}

TEST(CountNew, AShortRequestBetweenTwoReadsIsStillSeenInTimeWait) {
  ConnectionSnapshot before = snapshotOf(kTcp, {8080});
  // The client closed first: only its side lingers, in TIME_WAIT (06).
  std::string after_text = std::string(kTcp) +
                           "   7: 0100007F:E001 0100007F:1F90 06 00000000:00000000 03:00000C11 "
                           "00000000     0        0 0 3 0\n";
  ConnectionSnapshot after = snapshotOf(after_text, {8080});
  EXPECT_EQ(countNew(before, after), 1);
  EXPECT_EQ(after.established.size(), before.established.size());
  // An outbound connection of the app to another service's port 8080 is not
  // an arrival.
  std::string outbound = std::string(kTcp) +
                         "   7: 0A00000B:E002 0A0000FE:1F90 01 00000000:00000000 00:00000000 "
                         "00000000     0        0 55 3 0\n";
  EXPECT_EQ(countNew(before, snapshotOf(outbound, {8080})), 0);
}

TEST(CountNew, AReusedAddressPairOfATimeWaitConnectionIsNew) {
  // Line 3 of kTcp is in TIME_WAIT; a client reuses its address pair.
  std::string reused = kTcp;
  size_t at = reused.find("0A000003:C352 06");
  ASSERT_NE(at, std::string::npos);
  reused.replace(at, 16, "0A000003:C352 01");
  EXPECT_EQ(countNew(snapshotOf(kTcp, {8080}), snapshotOf(reused, {8080})), 1);
  // The other way round (established → TIME_WAIT) is a closing, not an arrival.
  EXPECT_EQ(countNew(snapshotOf(reused, {8080}), snapshotOf(kTcp, {8080})), 0);
  // Reused and closed again between two reads: the TIME_WAIT timer restarted.
  std::string later = kTcp;
  at = later.find("03:00000C11");
  later.replace(at, 11, "03:00000A00");  // less time left: the same TIME_WAIT
  EXPECT_EQ(countNew(snapshotOf(kTcp, {8080}), snapshotOf(later, {8080})), 0);
  EXPECT_EQ(countNew(snapshotOf(later, {8080}), snapshotOf(kTcp, {8080})), 1);
}

TEST(CountNew, CountsOnlySocketsNotSeenBefore) {
  ConnectionSnapshot before = snapshotOf(kTcp, {8080});
  std::string more = std::string(kTcp) +
                     "   7: 0A00000B:1F90 0A000007:C360 01 00000000:00000000 00:00000000 00000000  "
                     "1000        0 1010 1 0 20 4 30 10 -1\n";
  ConnectionSnapshot after = snapshotOf(more, {8080});
  EXPECT_EQ(countNew(before, after), 1);
  EXPECT_EQ(countNew(after, before), 0);
  EXPECT_EQ(countNew(after, after), 0);
}

TEST(ProcConnectionSource, ReadsRecordedFilesUnderAProcRoot) {
  auto root = std::filesystem::temp_directory_path() / ("ld-proc-" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "net");
  std::ofstream(root / "net" / "tcp") << kTcp;
  ProcConnectionSource without_v6(root.string(), {8080}, nullptr);
  auto s = without_v6.read();
  ASSERT_TRUE(s) << s.error().message;  // a missing tcp6 is fine
  EXPECT_EQ(s->established.size(), 3u);
  std::ofstream(root / "net" / "tcp6") << kTcp6;
  EXPECT_EQ(without_v6.read()->established.size(), 4u);
  std::filesystem::remove(root / "net" / "tcp");
  auto missing = without_v6.read();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(missing.error().message.find("net/tcp"), std::string::npos);
  std::filesystem::remove_all(root);
}

TEST(ProcConnectionSource, SeesRealConnectionsFromAnotherProcess) {
  int listening_port = 0;
  int listener = testing::listenOnLoopback(listening_port);
  ASSERT_GE(listener, 0);
  const auto port = static_cast<uint16_t>(listening_port);
  ProcConnectionSource source("/proc", {port}, nullptr);
  auto before = source.read();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->listening, 1);
  EXPECT_EQ(before->established.size(), 0u);

  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {  // another process, like a client of the app
    int c = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(1);
    char b;
    (void)!read(go[0], &b, 1);  // hold the connection until told
    _exit(0);
  }
  int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  auto during = source.read();
  ASSERT_TRUE(during);
  EXPECT_EQ(during->established.size(), 1u);
  EXPECT_EQ(countNew(*before, *during), 1);
  (void)!write(go[1], "x", 1);
  waitpid(child, nullptr, 0);
  close(accepted);
  close(listener);
  auto after = source.read();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->listening, 0);
  EXPECT_EQ(after->established.size(), 0u);
  close(go[0]);
  close(go[1]);
}

}  // namespace
}  // namespace lameduck::drain
