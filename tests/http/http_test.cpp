// The http layer: HTTPS (a TLS server, and a client that verifies it against
// a CA file, fails clearly when it does not verify, and skips verification
// only when told to) and the server's life cycle.

#include "http/http.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "fakes/resolve.h"
#include "support/harness.h"
#include "support/idle_clients.h"
#include "support/tls.h"
#include "support/trickle.h"

namespace lameduck::http {
namespace {

using fakes::FakeResolver;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::TestCertificates;

// Routes whose paths would mean more as regular expressions: a dot, a
// star. expectStringRouting checks a server that has them.
void addStringRoutes(Server& server) {
  server.route("GET", "/a.c", [](const Request&) { return Response{200, "exact"}; });
  server.route("GET", "/star*", [](const Request&) { return Response{200, "star"}; });
  server.route("POST", "/a.c", [](const Request& r) { return Response{200, "post " + r.body}; });
  server.routePrefix("GET", "/files/", [](const Request& r) {
    return Response{200, "prefix " + r.path};
  });
  server.route("GET", "/files/first", [](const Request&) { return Response{200, "too late"}; });
}

void expectStringRouting(Client& c) {
  auto answer = [&c](const std::string& method, const std::string& path) {
    auto r = c.send(method, path, method == "POST" ? "x" : "", "text/plain", {}, 10s);
    if (!r) return "error: " + r.error().message;
    return std::to_string(r->status) + " " + r->body;
  };
  EXPECT_EQ(answer("GET", "/a.c"), "200 exact");
  EXPECT_EQ(answer("GET", "/abc"), "404 not found\n") << "a dot is a dot";
  EXPECT_EQ(answer("GET", "/a.c/more"), "404 not found\n") << "the whole path";
  EXPECT_EQ(answer("GET", "/star*"), "200 star");
  EXPECT_EQ(answer("GET", "/starry"), "404 not found\n") << "a star is a star";
  EXPECT_EQ(answer("POST", "/a.c"), "200 post x");
  EXPECT_EQ(answer("GET", "/files/a/b.txt"), "200 prefix /files/a/b.txt");
  EXPECT_EQ(answer("GET", "/files/"), "200 prefix /files/");
  EXPECT_EQ(answer("GET", "/files"), "404 not found\n");
  EXPECT_EQ(answer("GET", "/files/first"), "200 prefix /files/first") << "first added wins";
}

// An HTTPS server on a free loopback port answering GET /hello (and the
// string routes).
class TlsServer {
 public:
  explicit TlsServer(const TestCertificates& certs) : server_(options(certs)) {
    server_.route("GET", "/hello", [](const Request&) { return Response{200, "hello\n"}; });
    addStringRoutes(server_);
    auto port = server_.bind({"127.0.0.1", 0});
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    if (auto ok = server_.start(); !ok) throw std::runtime_error(ok.error().message);
  }
  HttpUrl url(const std::string& host = "127.0.0.1") const {
    return HttpUrl{"https", host, static_cast<uint16_t>(port_), ""};
  }
  int port() const { return port_; }

 private:
  static ServerOptions options(const TestCertificates& certs) {
    ServerOptions o;
    o.tls_cert_file = certs.cert_file;
    o.tls_key_file = certs.key_file;
    return o;
  }
  Server server_;
  int port_ = 0;
};

Result<ClientResponse> hello(const HttpUrl& url, TlsOptions tls) {
  Client client(url, SystemClock::instance(), std::move(tls));
  return client.send("GET", "/hello", "", "", {}, 10s);
}

TEST(Tls, ClientVerifiesTheServerAgainstTheCaFile) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1", "localhost"});
  TlsServer server(certs);
  const auto ports_before = ownClientPorts().size();
  auto r = hello(server.url(), {certs.ca_file, false});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello\n");
  EXPECT_GT(ownClientPorts().size(), ports_before) << "HTTPS connections count as lameduck's own";
  auto by_name = hello(server.url("localhost"), {certs.ca_file, false});
  ASSERT_TRUE(by_name) << by_name.error().message;
}

TEST(Tls, KeepAliveConnectionIsReused) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  TlsServer server(certs);
  Client client(server.url(), SystemClock::instance(), {certs.ca_file, false});
  const auto before = ownClientPorts().size();
  for (int i = 0; i < 5; ++i) {
    auto r = client.send("GET", "/hello", "", "", {}, 10s);
    ASSERT_TRUE(r) << r.error().message;
  }
  EXPECT_EQ(ownClientPorts().size(), before + 1) << "five calls, one connection";
}

TEST(Tls, RoutesByWholePathOrDeclaredPrefixNeverByPattern) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  TlsServer server(certs);
  Client client(server.url(), SystemClock::instance(), {certs.ca_file, false});
  expectStringRouting(client);
}

TEST(Tls, WrongCaFailsNamingTheHostAndTheCaFile) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  auto other = testing::makeCertificates(dir, "other", {"127.0.0.1"});
  TlsServer server(certs);
  auto r = hello(server.url(), {other.ca_file, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("https://127.0.0.1:" + std::to_string(server.port())),
                    HasSubstr("did not verify against CA file " + other.ca_file),
                    HasSubstr("local issuer")));
}

TEST(Tls, CertificateForAnotherHostIsRefused) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"api.example"});
  TlsServer server(certs);
  auto r = hello(server.url(), {certs.ca_file, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message, HasSubstr("is not valid for host name 127.0.0.1"));
}

TEST(Tls, InsecureModeSkipsVerification) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"api.example"});
  auto other = testing::makeCertificates(dir, "other", {"127.0.0.1"});
  TlsServer server(certs);
  auto r = hello(server.url(), {other.ca_file, true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST(Tls, UnreadableCaFileIsNamed) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  TlsServer server(certs);
  auto r = hello(server.url(), {dir.file("missing-ca.crt"), false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message, HasSubstr("cannot load CA file " + dir.file("missing-ca.crt") +
                                           ": No such file or directory"));
}

TEST(Tls, ServerWithoutItsCertificateFailsToBindNamingTheFile) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  ServerOptions o;
  o.tls_cert_file = dir.file("missing.crt");
  o.tls_key_file = certs.key_file;
  Server missing(o);
  auto port = missing.bind({"127.0.0.1", 0});
  ASSERT_FALSE(port);
  EXPECT_THAT(port.error().message,
              HasSubstr("cannot read TLS certificate " + dir.file("missing.crt")));

  o.tls_cert_file = certs.cert_file;
  o.tls_key_file = dir.write("garbage.key", "not a key\n");
  Server garbage(o);
  auto port2 = garbage.bind({"127.0.0.1", 0});
  ASSERT_FALSE(port2);
  EXPECT_THAT(port2.error().message, HasSubstr("cannot load TLS certificate"));
}

TEST(Tls, PlainHttpClientAgainstHttpsServerIsAnErrorNotAHang) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  TlsServer server(certs);
  HttpUrl plain = server.url();
  plain.scheme = "http";
  auto r = hello(plain, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
}

TEST(Server, StopRightAfterStartReturns) {
  // httplib ignores a stop() that comes before its listen thread runs; the
  // wrapper must not leave that thread blocked in accept().
  for (int i = 0; i < 50; ++i) {
    Server server;
    ASSERT_TRUE(server.bind({"127.0.0.1", 0}));
    ASSERT_TRUE(server.start());
    server.stop();
  }
}

using testing::TrickleAfter;
using testing::TricklingServer;

Result<ClientResponse> get(int port, std::chrono::milliseconds timeout,
                           size_t max_bytes = kDefaultMaxResponseBytes) {
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port), ""},
           SystemClock::instance());
  return c.send("GET", "/", "", "", {}, timeout, max_bytes);
}

TEST(ClientDeadline, HeadersTrickledByteByByteEndAtTheDeadline) {
  // Each byte arrives well within the per-read timeout; only an overall
  // deadline stops this. The header never ends: it repeats forever.
  TricklingServer server("HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa", 20ms);
  auto r = get(server.port(), 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr("no complete answer within 300ms"));
}

TEST(ClientDeadline, StatusLineTrickledEndsAtTheDeadline) {
  TricklingServer server("HTTP/1.1 200 OK", 50ms);
  auto r = get(server.port(), 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
}

TEST(ClientDeadline, BodyTrickledEndsAtTheDeadline) {
  // Complete headers, then a body that would take minutes.
  std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
  answer += std::string(100000, 'x');
  TricklingServer server(answer, 5ms);
  auto r = get(server.port(), 500ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
}

TEST(ClientDeadline, TlsHandshakeTrickledEndsAtTheDeadlineNamingTheUrl) {
  // httplib runs the handshake under the lock its stop() needs, and waits
  // afresh for every byte: only shutting the socket down ends this.
  const std::string hello = testing::tlsServerHelloStart();
  TricklingServer server(hello, 200ms, TrickleAfter::kFirstBytes);
  const HttpUrl url{"https", "127.0.0.1", static_cast<uint16_t>(server.port()), ""};
  Client client(url, SystemClock::instance());
  auto r = client.send("GET", "/hook", "", "", {}, 600ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("GET " + url.origin() + "/hook"), HasSubstr("within 600ms")));
  EXPECT_LT(server.sent(), hello.size()) << "the server was still trickling";
  EXPECT_TRUE(testing::waitUntil([&] { return server.hungUp(); }, 10s))
      << "the client closed the connection";
}

TEST(ClientDeadline, HangingDnsLookupEndsAtTheDeadlineNamingTheHost) {
  auto resolver = std::make_shared<FakeResolver>(
      std::map<std::string, std::vector<std::string>>{{"hook.test", {"127.0.0.1"}}});
  resolver->hang(true);
  Client client(HttpUrl{"https", "hook.test", 8443, ""}, SystemClock::instance(), {}, resolver);
  auto r = client.send("POST", "/events", "{}", "", {}, 300ms);
  resolver->hang(false);  // the abandoned lookup may end now
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("POST https://hook.test:8443/events: no complete answer within 300ms"),
                    HasSubstr("no answer from the DNS resolver for host hook.test")));
}

TEST(ClientDeadline, PinnedAddressKeepsTheHostNameForTlsAndTriesTheNextAddress) {
  // hook.test resolves to an address that refuses the connection, then to
  // the server's. The certificate is valid for the name only, so it
  // verifies only if the handshake uses the name, not the address.
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"hook.test"});
  TlsServer server(certs);
  auto resolver = std::make_shared<FakeResolver>(
      std::map<std::string, std::vector<std::string>>{{"hook.test", {"127.0.0.2", "127.0.0.1"}}});
  Client client(server.url("hook.test"), SystemClock::instance(), {certs.ca_file, false}, resolver);
  for (int i = 0; i < 3; ++i) {
    auto r = client.send("GET", "/hello", "", "", {}, 10s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "hello\n");
  }
  EXPECT_EQ(resolver->lookups(), 1) << "a kept-alive connection needs no lookup";

  Client unknown(HttpUrl{"http", "nowhere.test", 80, ""}, SystemClock::instance(), {}, resolver);
  auto r = unknown.send("GET", "/", "", "", {}, 10s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message,
              HasSubstr("GET http://nowhere.test:80/: unknown host nowhere.test"));
}

TEST(Resolve, IpLiteralsAreNotLookedUp) {
  auto resolver = std::make_shared<FakeResolver>(std::map<std::string, std::vector<std::string>>{});
  Clock& clock = SystemClock::instance();
  for (const std::string ip : {"10.1.2.3", "fd00::7"}) {
    auto r = resolveWithin(resolver, ip, clock, clock.now() + 5s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, std::vector<std::string>{ip});
  }
  EXPECT_EQ(resolver->lookups(), 0);
}

TEST(Resolve, PendingLookupsAreBoundedThenLookupsFailAtOnce) {
  auto resolver = std::make_shared<FakeResolver>(
      std::map<std::string, std::vector<std::string>>{{"known.test", {"10.0.0.7"}}});
  resolver->hang(true);
  Clock& clock = SystemClock::instance();
  std::optional<Error> refused;
  for (int i = 0; i <= kMaxPendingLookups && !refused; ++i) {
    auto r = resolveWithin(resolver, "known.test", clock, clock.now());
    ASSERT_FALSE(r);
    if (r.error().code == ErrorCode::kUnavailable) {
      refused = r.error();
    } else {
      EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
    }
  }
  resolver->hang(false);  // the abandoned lookups end now
  ASSERT_TRUE(refused) << "more than " << kMaxPendingLookups << " lookups were left pending";
  EXPECT_THAT(refused->message,
              HasSubstr("known.test: " + std::to_string(kMaxPendingLookups) +
                        " DNS lookups are still pending"));
  EXPECT_TRUE(testing::waitUntil(
      [&] { return resolveWithin(resolver, "known.test", clock, clock.now() + 5s).has_value(); },
      10s))
      << "once they ended, lookups run again";
}

TEST(ClientBound, AnswerLongerThanTheBoundIsRefusedNamingIt) {
  Server server;
  server.route("GET", "/", [](const Request&) { return Response{200, std::string(5000, 'y')}; });
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  auto big = get(*port, 5s, 4096);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kBadResponse);
  EXPECT_THAT(big.error().message, HasSubstr("longer than the bound of 4096 bytes"));
  auto fits = get(*port, 5s, 5000);
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->body.size(), 5000u);
}

TEST(ClientBound, ClientIsUsableAfterARefusedAnswer) {
  Server server;
  server.route("GET", "/big", [](const Request&) { return Response{200, std::string(9000, 'y')}; });
  server.route("GET", "/small", [](const Request&) { return Response{200, "ok"}; });
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(*port), ""},
           SystemClock::instance());
  ASSERT_FALSE(c.send("GET", "/big", "", "", {}, 5s, 1024));
  auto small = c.send("GET", "/small", "", "", {}, 5s, 1024);
  ASSERT_TRUE(small) << small.error().message;
  EXPECT_EQ(small->body, "ok");
}

// Polls `done` for up to 10 s (the bound of a wait, not of the behaviour).
bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

// httplib reads header lines with no bound on their number, or on a line's
// length while it is read: without a bound of its own a client would hold
// every line a peer sends until the deadline (~12 bytes of memory per byte).
// The deadline here is far away: the bound, not the deadline, ends the call.
TEST(ClientBound, EndlessHeaderLinesAreCutAtTheHeadBoundNamingIt) {
  auto server = TricklingServer::flooding("HTTP/1.1 200 OK\r\n", "X-a: b\r\n");
  auto r = get(server.port(), 120s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse) << r.error().message;
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("GET http://127.0.0.1:" + std::to_string(server.port()) + "/"),
                    HasSubstr("the answer head exceeds 65536 bytes")));
  ASSERT_TRUE(eventually([&] { return server.hungUp(); })) << "the connection stays open";
  // Sent, not read: the socket buffers hold most of it.
  EXPECT_LT(server.sent(), 32u << 20);
}

TEST(ClientBound, HeaderLineThatNeverEndsIsCutAtTheHeadBound) {
  auto server = TricklingServer::flooding("HTTP/1.1 200 OK\r\nX-Long: ", "aaaaaaaaaaaaaaaa");
  auto r = get(server.port(), 120s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr("the answer head exceeds 65536 bytes"));
  ASSERT_TRUE(eventually([&] { return server.hungUp(); })) << "the connection stays open";
}

TEST(ClientBound, ChunkSizeLineThatNeverEndsIsCutAtTheAnswerBound) {
  // One real chunk (the body has started), then a chunk-size line forever.
  auto server = TricklingServer::flooding(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "1111111111111111");
  auto r = get(server.port(), 120s, 4096);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse) << r.error().message;
  const uint64_t bound = kMaxHeadBytes + 4096 + 4096 / 4;
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("the answer exceeds " + std::to_string(bound) + " bytes received"),
                    HasSubstr("the body's bound is 4096 bytes")));
  ASSERT_TRUE(eventually([&] { return server.hungUp(); })) << "the connection stays open";
}

Response manyHeaders(size_t count, std::string body) {
  Response out{200, std::move(body)};
  for (size_t i = 0; i < count; ++i) {
    out.headers.emplace("X-Header-" + std::to_string(i), "value-" + std::to_string(i));
  }
  return out;
}

TEST(ClientBound, ManyHeadersWithinTheBoundAreReadOnEveryCallOfAKeptAliveConnection) {
  // ~30 KB of headers per answer: four answers on one connection pass the
  // head bound together, but each is counted from where its call started.
  Server server;
  server.route("GET", "/", [](const Request&) { return manyHeaders(1000, "ok"); });
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(*port), ""},
           SystemClock::instance());
  const auto before = ownClientPorts();
  for (int i = 0; i < 4; ++i) {
    auto r = c.send("GET", "/", "", "", {}, 5s, 1024);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(r->headers.count("X-Header-999"), 1u);
  }
  EXPECT_EQ(ownClientPorts().size(), before.size() + 1) << "one connection for all four calls";
}

TEST(ClientBound, TlsHeadLongerThanTheBoundIsCutNamingIt) {
  TempDir dir;
  auto certs = testing::makeCertificates(dir, "srv", {"127.0.0.1"});
  Server server(ServerOptions{.tls_cert_file = certs.cert_file, .tls_key_file = certs.key_file});
  // ~300 KB of headers, past the head bound over https (128 KiB).
  server.route("GET", "/", [](const Request&) { return manyHeaders(10000, "ok"); });
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  Client c(HttpUrl{"https", "127.0.0.1", static_cast<uint16_t>(*port), ""}, SystemClock::instance(),
           TlsOptions{.ca_file = certs.ca_file});
  auto r = c.send("GET", "/", "", "", {}, 60s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse) << r.error().message;
  EXPECT_THAT(r.error().message,
              HasSubstr("the answer head exceeds " +
                        std::to_string(kMaxHeadBytes + kTlsHandshakeBytes) + " bytes"));
}

// The server side: requests are parsed by lameduck's own event loop.
class PlainServer : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.routePrefix("GET", "/echo/", [](const Request& r) {
      std::string params;
      for (const auto& [k, v] : r.params) params += k + "=" + v + ";";
      return Response{200, r.path + "|" + params + "|" + r.header("X-Test")};
    });
    server_.route("POST", "/body", [](const Request& r) { return Response{200, r.body}; });
    server_.route("GET", "/throws", [](const Request&) -> Response {
      throw std::runtime_error("boom");
    });
    auto port = server_.bind({"127.0.0.1", 0});
    ASSERT_TRUE(port);
    port_ = *port;
    ASSERT_TRUE(server_.start());
  }
  Server server_{ServerOptions{.threads = 2, .max_body_bytes = 1000}};
  int port_ = 0;
};

TEST_F(PlainServer, RoutesDecodesPathAndQueryAndReusesTheConnection) {
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port_), ""}, SystemClock::instance());
  for (int i = 0; i < 3; ++i) {
    auto r = c.send("GET", "/echo/a%20b?x=1&y=two%20words", "", "", {{"X-Test", "hi"}}, 5s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "/echo/a b|x=1;y=two words;|hi");
  }
  auto missing = c.send("GET", "/nothing", "", "", {}, 5s);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto body = c.send("POST", "/body", "payload", "text/plain", {}, 5s);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->body, "payload");
  auto big = c.send("POST", "/body", std::string(2000, 'z'), "text/plain", {}, 5s);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  Client c2(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port_), ""},
            SystemClock::instance());
  auto thrown = c2.send("GET", "/throws", "", "", {}, 5s);
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
}

TEST(PlainRouting, RoutesByWholePathOrDeclaredPrefixNeverByPattern) {
  Server server;
  addStringRoutes(server);
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(*port), ""},
           SystemClock::instance());
  expectStringRouting(c);
}

TEST_F(PlainServer, AnswersWhileHundredsOfConnectionsNeverFinishARequest) {
  testing::IdleClients idle(port_, 300, testing::IdleClients::Kind::kIdle);
  testing::IdleClients slow(port_, 300, testing::IdleClients::Kind::kSlowloris, 50ms);
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port_), ""}, SystemClock::instance());
  for (int i = 0; i < 50; ++i) {
    // An answer at all is the point (latency is the admin bench's): a
    // bound a loaded machine or a sanitizer cannot miss.
    auto r = c.send("GET", "/echo/x", "", "", {{"Connection", "close"}}, 10s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
  }
}

TEST_F(PlainServer, SlowlorisConnectionIsClosedOnceItsHeadIsOverdue) {
  Server server(ServerOptions{.threads = 1, .read_timeout = 200ms});
  server.route("GET", "/healthz", [](const Request&) { return Response{200, "ok"}; });
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  testing::IdleClients slow(*port, 5, testing::IdleClients::Kind::kSlowloris, 20ms);
  EXPECT_TRUE(testing::waitUntil([&] { return slow.reopened() >= 5; }, 20s));
}

TEST_F(PlainServer, AtTheConnectionCapTheOldestIdleConnectionIsShed) {
  Server server(ServerOptions{.threads = 1, .keep_alive = 60s, .max_connections = 20});
  server.route("GET", "/healthz", [](const Request&) { return Response{200, "ok"}; });
  auto port = server.bind({"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  testing::IdleClients idle(*port, 100, testing::IdleClients::Kind::kIdle, 20ms);
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(*port), ""}, SystemClock::instance());
  bool answered = testing::waitUntil(
      [&] {
        auto r = c.send("GET", "/healthz", "", "", {{"Connection", "close"}}, 1s);
        return r && r->status == 200;
      },
      20s);
  EXPECT_TRUE(answered);
  // The server shed connections beyond its cap: the clients saw them close.
  EXPECT_TRUE(testing::waitUntil([&] { return idle.reopened() > 0; }, 20s));
}

using testing::RawConnection;

Server& serveBodies(Server& server) {
  server.route("GET", "/healthz", [](const Request&) { return Response{200, "ok"}; });
  server.route("POST", "/body", [](const Request& r) { return Response{200, r.body}; });
  return server;
}

int startOnLoopback(Server& server) {
  auto port = server.bind({"127.0.0.1", 0});
  if (!port || !server.start()) throw std::runtime_error("cannot start the test server");
  return *port;
}

TEST(ServerBudget, BodySlowlorisNeverHoldsMoreThanTheBudgetAndProbesAnswer) {
  // 300 clients each announce a 64 KiB body, send 63 KiB and trickle the
  // rest: 19 MB if each connection's own bound were the only one.
  constexpr size_t kBudget = 512 * 1024;
  ServerOptions o;
  o.threads = 2;
  o.max_body_bytes = 64 * 1024;
  o.max_buffered_bytes = kBudget;
  Server server(o);
  const int port = startOnLoopback(serveBodies(server));
  testing::IdleClients slow(port, 300, testing::IdleClients::Kind::kSlowBody, 50ms, 64 * 1024);
  ASSERT_TRUE(testing::waitUntil([&] { return server.stats().shed_budget > 0; }, 30s));
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port), ""}, SystemClock::instance());
  for (int i = 0; i < 20; ++i) {
    auto r = c.send("GET", "/healthz", "", "", {{"Connection", "close"}}, 10s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    // A small request with a body is never the largest one held: never shed.
    auto posted = c.send("POST", "/body", "payload", "text/plain", {{"Connection", "close"}}, 10s);
    ASSERT_TRUE(posted) << posted.error().message;
    EXPECT_EQ(posted->body, "payload");
  }
  EXPECT_TRUE(testing::waitUntil([&] { return slow.reopened() > 0; }, 30s));
  const ServerStats stats = server.stats();
  EXPECT_LE(stats.peak_buffered_bytes, kBudget);
  EXPECT_GT(stats.peak_buffered_bytes, kBudget / 2);  // the clients did fill it
}

TEST(ServerBudget, UntrustedPeerNeverHasABodyReadButItsProbesAreAnswered) {
  ServerOptions o;
  o.trusted_peer = [](const std::string& peer) { return peer != "127.0.0.1"; };
  Server server(o);
  const int port = startOnLoopback(serveBodies(server));
  {
    RawConnection raw(port);
    raw.send("POST /body HTTP/1.1\r\nContent-Length: 60000\r\n\r\n" + std::string(60000, 'x'));
    EXPECT_TRUE(raw.readUntilClosed(20s));
  }
  {
    // A head longer than an untrusted peer may send: closed too.
    RawConnection raw(port);
    raw.send("GET /healthz HTTP/1.1\r\nX-Pad: " + std::string(8000, 'p') + "\r\n\r\n");
    auto answer = raw.readUntilClosed(20s);
    ASSERT_TRUE(answer);
    EXPECT_THAT(*answer, HasSubstr("431"));
  }
  auto probe = testing::call(port, "GET", "/healthz", {}, 10s);
  ASSERT_TRUE(probe) << probe.error().message;
  EXPECT_EQ(probe->status, 200);
  EXPECT_TRUE(testing::waitUntil([&] { return server.stats().refused_source == 1; }, 20s));
  EXPECT_LE(server.stats().peak_buffered_bytes, o.restricted_max_head_bytes + 4);
}

TEST(ServerScreen, RefusedHeadIsAnsweredBeforeItsBodyIsRead) {
  ServerOptions o;
  o.screen = [](const Request& head) -> std::optional<Response> {
    if (head.path == "/body" && head.header("X-Token") != "s3cret") return Response{401, "no\n"};
    return std::nullopt;
  };
  Server server(o);
  const int port = startOnLoopback(serveBodies(server));
  {
    RawConnection raw(port);
    // The head alone: the answer must come without the body.
    raw.send("POST /body HTTP/1.1\r\nContent-Length: 60000\r\n\r\n");
    auto answer = raw.readUntilClosed(20s);
    ASSERT_TRUE(answer);
    EXPECT_THAT(*answer, HasSubstr("HTTP/1.1 401"));
  }
  EXPECT_EQ(server.stats().screened_out, 1u);
  EXPECT_LT(server.stats().peak_buffered_bytes, 1024u);
  Client c(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port), ""}, SystemClock::instance());
  auto ok = c.send("POST", "/body", "payload", "text/plain", {{"X-Token", "s3cret"}}, 10s);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->body, "payload");
}

TEST(ServerDeadline, BodyTrickledPastTheReadTimeoutIsClosed) {
  // Complete heads, then bodies a byte per round: only a deadline on the
  // whole request (not the head alone) closes these.
  ServerOptions o;
  o.read_timeout = 300ms;
  Server server(o);
  const int port = startOnLoopback(serveBodies(server));
  testing::IdleClients slow(port, 5, testing::IdleClients::Kind::kSlowBody, 50ms, 4096);
  EXPECT_TRUE(testing::waitUntil([&] { return slow.reopened() >= 5; }, 20s));
  EXPECT_GE(server.stats().shed_overdue, 5u);
  EXPECT_EQ(server.stats().shed_budget, 0u);
}

}  // namespace
}  // namespace lameduck::http
