#pragma once

// Test certificates made with the openssl CLI: a CA per call and a server
// certificate it signed, for HTTPS servers in tests.

#include <string>
#include <vector>

#include "support/harness.h"

namespace lameduck::testing {

// A CA and a certificate it signed, as PEM files in a directory.
struct TestCertificates {
  std::string ca_file;    // the CA certificate
  std::string cert_file;  // the server certificate
  std::string key_file;   // its private key
};

// Makes a fresh CA ("<name> CA") and a server certificate for `hosts` (IP
// addresses or DNS names, as subjectAltNames) with the openssl CLI, under
// `dir` with file names starting with `name`. Throws std::runtime_error
// with openssl's output when it fails.
TestCertificates makeCertificates(const TempDir& dir, const std::string& name,
                                  const std::vector<std::string>& hosts);

}  // namespace lameduck::testing
