// `lameduck prestop`: the exec-hook client. Calls /prestop, prints the
// summary, and exits 0 only when the exit completed.

#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "common/parse.h"
#include "exit/summary.h"
#include "http/http.h"

namespace lameduck::cli {

int prestop(const Args& args) {
  std::string url_text = "http://127.0.0.1:9901/prestop";
  const char* env_token = std::getenv("LAMEDUCK_TOKEN");
  std::string token = env_token ? env_token : "";
  Duration timeout = std::chrono::minutes(10);
  constexpr const char* kUsageLine =
      "usage: lameduck prestop [--url U] [--token T] [--timeout D] (or --name=value)";
  for (size_t i = 0; i < args.size(); ++i) {
    // "--name value" or "--name=value".
    const size_t eq = args[i].find('=');
    const std::string a = args[i].starts_with("--") ? args[i].substr(0, eq) : args[i];
    auto next = [&]() -> std::optional<std::string> {
      if (args[i].starts_with("--") && eq != std::string::npos) return args[i].substr(eq + 1);
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    std::optional<std::string> v;
    if (a == "--help" || a == "-h") {
      std::cout << "lameduck prestop: call /prestop, print the exit summary, exit 0 only when "
                   "the exit completed\n"
                << kUsageLine << "\n"
                << "  --url U      default http://127.0.0.1:9901/prestop\n"
                << "  --token T    bearer token (default: $LAMEDUCK_TOKEN)\n"
                << "  --timeout D  how long to wait for the answer (default 10m)\n";
      return kExitOk;
    } else if (a == "--url" && (v = next())) {
      url_text = *v;
    } else if (a == "--token" && (v = next())) {
      token = *v;
    } else if (a == "--timeout" && (v = next())) {
      auto d = parseDuration(*v);
      if (!d || *d == Duration::zero()) {
        std::cerr << "lameduck prestop: --timeout: "
                  << (d ? "must be greater than zero" : d.error().message) << "\n";
        return kExitUsage;
      }
      timeout = *d;
    } else {
      // Only the argument's name: its value may be a token.
      std::cerr << "lameduck prestop: unknown or incomplete argument \""
                << a.substr(0, 64) << (eq != std::string::npos ? "=..." : "") << "\"; "
                << kUsageLine << "\n";
      return kExitUsage;
    }
  }
  auto url = parseHttpUrl(url_text);
  if (!url) {
    std::cerr << "lameduck prestop: --url: " << url.error().message << "\n";
    return kExitUsage;
  }
  http::Client client(*url, SystemClock::instance());
  http::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto res = client.send("POST", url->path.empty() ? "/" : url->path, "", "", headers, timeout);
  if (!res) {
    std::cerr << "lameduck prestop: " << res.error().message << "\n";
    return kExitFailed;
  }
  std::cout << res->body;
  if (res->status != 200) {
    std::cerr << "lameduck prestop: " << url_text << " answered HTTP " << res->status << "\n";
    return kExitFailed;
  }
  auto outcome = exit::outcomeFromJson(res->body);
  if (!outcome) {
    std::cerr << "lameduck prestop: " << outcome.error().message << "\n";
    return kExitFailed;
  }
  if (*outcome == exit::Outcome::kCompleted) return kExitOk;
  std::cerr << "lameduck prestop: exit outcome " << exit::outcomeName(*outcome) << "\n";
  return *outcome == exit::Outcome::kDeadline ? kExitDeadline : kExitFailed;
}

}  // namespace lameduck::cli
