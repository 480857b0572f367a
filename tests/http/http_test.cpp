// The http layer: HTTPS (a TLS server, and a client that verifies it against
// a CA file, fails clearly when it does not verify, and skips verification
// only when told to) and the server's life cycle.

#include "http/http.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/harness.h"
#include "support/tls.h"

namespace lameduck::http {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::TestCertificates;

// An HTTPS server on a free loopback port answering GET /hello.
class TlsServer {
 public:
  explicit TlsServer(const TestCertificates& certs) : server_(options(certs)) {
    server_.route("GET", "/hello", [](const Request&) { return Response{200, "hello\n"}; });
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

}  // namespace
}  // namespace lameduck::http
