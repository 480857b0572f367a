#include "support/tls.h"

#include <cstdio>
#include <stdexcept>

namespace lameduck::testing {
namespace {

void openssl(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = dir.file("openssl.out");
  if (runCommand(argv, out, 30s) != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += a + " ";
    throw std::runtime_error("openssl failed: " + cmd + "\n" + readFile(out));
  }
}

std::string hex(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", n);
  return buf;
}

}  // namespace

TestCertificates makeCertificates(const TempDir& dir, const std::string& name,
                                  const std::vector<std::string>& hosts) {
  TestCertificates c{dir.file(name + "-ca.crt"), dir.file(name + ".crt"), dir.file(name + ".key")};
  const std::string ca_key = dir.file(name + "-ca.key");
  const std::string csr = dir.file(name + ".csr");
  // P-256 keys: a fraction of the time RSA takes to generate.
  openssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", ca_key, "-out", c.ca_file, "-days", "2", "-subj",
                "/CN=" + name + " CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign"});
  openssl(dir, {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", c.key_file, "-out", csr, "-subj", "/CN=" + name});
  std::string san;
  for (const std::string& h : hosts) {
    const bool ip = h.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos &&
                    (h.find('.') != std::string::npos || h.find(':') != std::string::npos);
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + h;
  }
  const std::string ext = dir.write(name + ".ext",
                                    "basicConstraints=CA:FALSE\n"
                                    "keyUsage=critical,digitalSignature\n"
                                    "extendedKeyUsage=serverAuth\n"
                                    "subjectAltName=" +
                                        san + "\n");
  openssl(dir, {"x509", "-req", "-in", csr, "-CA", c.ca_file, "-CAkey", ca_key, "-set_serial",
                "0x" + hex(static_cast<int>(monoNs() & 0x7fffffff)), "-days", "2", "-extfile", ext,
                "-out", c.cert_file});
  return c;
}

}  // namespace lameduck::testing
