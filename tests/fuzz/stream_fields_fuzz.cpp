// libFuzzer target: the fields of a stream entry as the compensator reads
// them (anyone who can XADD controls them). The input is field/value pairs
// separated by NUL bytes. Properties: never crashes; an entry is invalid
// exactly when id or saga_id is missing or empty, or the id (sent as the
// Idempotency-Key header) holds a control character; a filled action URL never
// contains a control character, a space, or any text of a value that could
// leave its path segment ('/', '?', '#', '.', '%' unencoded).
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run stream_fields`).

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "saga/compensator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  while (true) {
    const size_t nul = text.find('\0');
    parts.emplace_back(text.substr(0, nul));
    if (nul == std::string_view::npos) break;
    text = text.substr(nul + 1);
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < parts.size(); i += 2) fields[parts[i]] = parts[i + 1];

  const bool invalid = lameduck::saga::invalidEntry(fields).has_value();
  auto value = [&](const char* k) {
    auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  bool control = false;
  for (const unsigned char c : value("id")) control = control || c < 0x20 || c == 0x7f;
  if (invalid != (value("id").empty() || value("saga_id").empty() || control)) std::abort();

  const std::string prefix = "http://svc:8080/r/";
  const std::string url =
      lameduck::saga::fillActionUrl(prefix + "{{id}}/{{saga_id}}/{{step}}/{{action}}", fields);
  if (url.compare(0, prefix.size(), prefix) != 0) std::abort();
  int slashes = 0;
  for (size_t i = prefix.size(); i < url.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '.') std::abort();
    if (c == '/') ++slashes;
    if (c == '%' &&
        (i + 2 >= url.size() || !std::isxdigit(url[i + 1]) || !std::isxdigit(url[i + 2]))) {
      std::abort();
    }
  }
  if (slashes != 3) std::abort();  // the template's own three, no more
  return 0;
}
