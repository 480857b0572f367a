#pragma once

// lameduck's configuration: the YAML shape of docs/configuration.md as typed values.
// Every section is optional; a default-constructed Config is the embedded
// default configuration (no app hooks, no Redis, no traffic backend).
//
// Thread-safety: loading is a pure function of the file, the --set words and
// the environment; a loaded Config is a plain value, read-only once the
// sidecar starts and shared by every thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/parse.h"

namespace lameduck::config {

using namespace std::chrono_literals;

struct AdminConfig {
  HostPort listen{"0.0.0.0", 9901};
  std::string token;              // empty: no bearer token required
  std::vector<Cidr> allow_cidrs;  // empty: any source address
};

struct PushgatewayConfig {
  std::optional<HttpUrl> url;  // unset: no push
  std::string job = "lameduck";
  // Bounds the one push made when an exit ends (connect, send, answer).
  Duration timeout = 2s;
};

struct MetricsConfig {
  HostPort listen{"0.0.0.0", 9902};
  PushgatewayConfig pushgateway;
};

struct ExitConfig {
  Duration grace_period = 30s;
  Duration safety_margin = 2s;
  Duration compensation_reserve = 5s;
  // What the app keeps of the grace period for its own SIGTERM handling,
  // after the hook answered. Sets the default drain.max_wait (see
  // autoMaxWait) and check-config's warning.
  Duration app_shutdown = 5s;

  // The whole exit must fit here.
  Duration budget() const { return grace_period - safety_margin; }
  // What the Draining phase (traffic shift, drain wait) may use of the
  // budget: the rest is the compensation reserve.
  Duration draining() const { return budget() - compensation_reserve; }
};

struct HooksConfig {
  std::string drain = "/lameduck/drain";
  std::string status = "/lameduck/status";
  std::string compensations = "/lameduck/compensations";
  std::string ack = "/lameduck/compensations/ack";
  std::string terminate = "/lameduck/terminate";
};

// Goroutine dumps of a Go app (exit diagnosis).
struct DiagnosticsConfig {
  // The app's pprof goroutine URL, normally
  // http://127.0.0.1:6060/debug/pprof/goroutine?debug=2 (path and query are
  // the request target; no path: that default one). Unset: no diagnosis.
  std::optional<HttpUrl> goroutines;
  int64_t max_bytes = 16 << 20;  // a longer dump is refused
  // How long after /prestop answered (the kubelet sends SIGTERM then) an app
  // still alive is diagnosed as stuck in its shutdown.
  Duration after_sigterm = 5s;
};

struct AppConfig {
  std::optional<HttpUrl> base_url;  // set: the drain-protocol hooks are used
  HooksConfig hooks;
  Duration timeout = 2s;  // also bounds each goroutine dump fetch
  std::vector<uint16_t> ports{8080};
  // The largest hook answer read; a longer one is refused (the exit goes on
  // without it). An answer of N bytes costs up to ~2N while it arrives (its
  // text grows by doubling) on top of ~12 MB at rest: 8 MiB keeps the peak
  // near 30 MB, under the chart's 64Mi limit with half of it to spare, and
  // holds ~65,000 typical compensations (~120 bytes each); an app with more
  // should page (docs/compensation.md, "Paged hand-off").
  int64_t max_response_bytes = 8 * 1024 * 1024;
  DiagnosticsConfig diagnostics;
};

struct DrainConfig {
  Duration poll_interval = 50ms;
  Duration quiet_period = 2s;
  int64_t max_connections = 0;
  // Unset in the config (max_wait_auto): autoMaxWait(), 18 s on the
  // defaults, so that the app's shutdown still fits the grace period.
  Duration max_wait = 18s;
  bool max_wait_auto = true;
  // Where the socket tables are read (<proc_root>/net/tcp, tcp6); tests
  // point it at recorded files.
  std::string proc_root = "/proc";
};

// Where Redis is: "host:port" or "unix:/path".
struct RedisAddress {
  std::string host;  // empty for unix sockets
  uint16_t port = 0;
  std::string unix_path;  // non-empty for unix sockets
  std::string str() const;
};

struct RedisConfig {
  std::optional<RedisAddress> address;  // unset: no Redis, spool only
  std::string username;
  std::string password;
  int64_t db = 0;
  Duration timeout = 1s;
};

struct CompensationConfig {
  RedisConfig redis;
  std::string stream = "compensation_stream";
  int64_t maxlen = 1'000'000;  // 0: unbounded
  std::string spool = "/var/lib/lameduck/spool";
};

enum class TrafficBackend { kNone, kHaproxy, kKubernetes, kWebhook };
enum class PatchType { kMerge, kJson };
enum class GateSource { kNone, kPrometheus, kApp };
enum class GateOnFail { kHold, kContinue };

struct HaproxyConfig {
  std::string socket = "unix:/run/haproxy/admin.sock";  // unix:/path or tcp:host:port
  std::string server;                                   // backend/server
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubernetesTrafficConfig {
  std::string api_version;  // "v1" (core) or "group/version"
  std::string kind;
  std::string namespace_;  // empty: a cluster-scoped object
  std::string name;
  std::string resource;  // plural resource name; empty: derived from kind
  PatchType patch_type = PatchType::kMerge;
  std::string patch;
  // API access. Unset server: in-cluster, from KUBERNETES_SERVICE_HOST/PORT.
  std::optional<HttpUrl> server;
  std::string token_file = std::string(kServiceAccountDir) + "/token";
  std::string ca_file = std::string(kServiceAccountDir) + "/ca.crt";
  bool insecure_skip_tls_verify = false;
  Duration timeout = 10s;  // each API request (the caller's deadline still bounds it)
};

struct WebhookConfig {
  std::optional<HttpUrl> url;
  std::string token;  // sent as "Authorization: Bearer <token>" when set
};

struct TrafficStep {
  int64_t weight = 0;  // percent of the original weight, 0..100
  Duration hold = 0s;
};

struct GateConfig {
  GateSource source = GateSource::kNone;
  double max_error_rate = 0.001;
  GateOnFail on_fail = GateOnFail::kHold;
  std::optional<HttpUrl> prometheus_url;
  std::string prometheus_query;
  // How often a gate that did not pass is checked again while the step holds.
  Duration interval = 1s;
};

struct TrafficConfig {
  TrafficBackend backend = TrafficBackend::kNone;
  HaproxyConfig haproxy;
  KubernetesTrafficConfig kubernetes;
  WebhookConfig webhook;
  std::vector<TrafficStep> steps{{5, 30s}, {0, 0s}};
  GateConfig gate;
  // Bounds each weight change and each gate query (and what is left of the
  // plan bounds it further).
  Duration timeout = 2s;
};

struct CoordinationConfig {
  std::string service;  // empty: coordination off
  std::vector<std::string> wait_for;
  int64_t max_concurrent_exits = 1;
  Duration heartbeat = 5s;
};

// Where the compensator sends one action: the URL is a template over the
// entry's fields ({{id}}, {{saga_id}}, {{step}}, {{action}}).
struct ActionConfig {
  std::string url;
  std::string method = "POST";
  Duration timeout = 5s;
};

// `lameduck compensator`: the consumer side of the stream.
struct CompensatorConfig {
  std::string group = "lameduck-compensator";
  std::string consumer;  // empty: POD_NAME, else the host name + "-" + pid
  int64_t max_attempts = 5;
  Duration backoff = 1s;       // before the first retry; doubles each time
  Duration max_backoff = 30s;  // cap
  Duration claim_idle = 30s;   // a crashed consumer's entries are taken after this
  int64_t batch = 100;
  HostPort listen{"0.0.0.0", 9903};
  std::map<std::string, ActionConfig> actions;
};

// trace.otlp: where the exit trace goes (OTLP/HTTP JSON).
struct OtlpConfig {
  // The collector's base URL (http://otel-collector:4318); spans are sent
  // to <endpoint>/v1/traces. Unset: the trace is not exported.
  std::optional<HttpUrl> endpoint;
  // Bounds one export as a whole, retries included.
  Duration timeout = 2s;
  // Sent with every export, e.g. authorization: "Bearer ${OTLP_TOKEN}".
  // Values are secrets: never printed, not even in config errors.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct TraceConfig {
  OtlpConfig otlp;
};

struct LogConfig {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kJson;
};

struct Config {
  AdminConfig admin;
  MetricsConfig metrics;
  ExitConfig exit;
  AppConfig app;
  DrainConfig drain;
  CompensationConfig compensation;
  TrafficConfig traffic;
  CoordinationConfig coordination;
  CompensatorConfig compensator;
  TraceConfig trace;
  LogConfig log;
};

// One thing wrong with a config, with where it is.
struct ConfigIssue {
  std::string key_path;  // "exit.grace_period", "traffic.steps[1].weight"
  int line = 0;          // 1-based; 0 when the key has no position (--set, cross-checks)
  int column = 0;        // 1-based
  std::string message;   // names the bad value and what is accepted
  bool from_set = false;  // the value came from --set: no file position is given
  // "file:line:col: key: message", "file: key: message" without a position,
  // "--set key: message" for a value from --set.
  std::string str(std::string_view source) const;
};

// Overrides given as key.path=value (the CLI's --set); applied before
// validation as if written in the file. The value is a string (so
// "[::]:9901" is an address); only where the key expects a list or a map is
// a value starting with [ or { read as a YAML flow list or map
// ("[8080, 9090]", "{weight: 0}").
struct Override {
  std::string key_path;
  std::string value;
};

// Parses, expands ${ENV} / ${ENV:-default} in scalar values, validates.
// All problems are collected, not just the first. `source` names the input in
// messages (a file path, or "<defaults>"). Never throws: whatever yaml-cpp
// throws becomes an error. No message carries the value of a secret key (a
// key named token, password, secret or headers, or anything under headers).
// Inputs over kMaxConfigBytes are refused.
inline constexpr size_t kMaxConfigBytes = 1 << 20;

Result<Config> parse(std::string_view yaml_text, std::string_view source,
                     const std::vector<Override>& overrides = {});

// Reads and parses a file. A missing or unreadable file is an error.
Result<Config> loadFile(const std::string& path, const std::vector<Override>& overrides = {});

// Embedded defaults (no file), with overrides.
Result<Config> defaults(const std::vector<Override>& overrides = {});

// Expands ${NAME} and ${NAME:-fallback}; "$$" is a literal '$'. Unset names
// without a fallback expand to "". Errors on an unterminated "${".
Result<std::string> expandEnv(std::string_view text);

// The grace period's split between the exit and the app's own shutdown.
// The traffic holds planned before the drain wait (zero without a backend).
Duration plannedHolds(const Config& config);
// The default drain.max_wait: grace_period - safety_margin -
// compensation_reserve - app_shutdown - plannedHolds, or, when that leaves
// nothing, all of Draining (budget - compensation_reserve).
Duration autoMaxWait(const Config& config);
// What is left of the grace period for the app's shutdown when the drain
// wait runs its whole max_wait (and compensation its whole reserve).
Duration appShutdownLeft(const Config& config);
// Advice that does not make the config invalid (check-config prints it,
// `run` logs it at warn): e.g. max_wait leaving the app less than
// exit.app_shutdown.
std::vector<std::string> warnings(const Config& config);

}  // namespace lameduck::config
