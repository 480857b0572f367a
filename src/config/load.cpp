// YAML → Config. yaml-cpp throws; every call into it is contained here and
// turned into ConfigIssues that name the key path, line and column.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/trace.h"

namespace lameduck::config {
namespace {

class Ctx {
 public:
  explicit Ctx(std::string_view source) : source_(source) {}

  void fail(const YAML::Node& at, const std::string& path, std::string message) {
    ConfigIssue issue{path, 0, 0, std::move(message)};
    const YAML::Mark mark = at.Mark();
    if (mark.line >= 0) {  // nodes made from --set carry no position
      issue.line = mark.line + 1;
      issue.column = mark.column + 1;
    }
    issues_.push_back(std::move(issue));
  }
  void failNoPosition(const std::string& path, std::string message) {
    issues_.push_back(ConfigIssue{path, 0, 0, std::move(message)});
  }

  bool ok() const { return issues_.empty(); }
  std::string report() const {
    std::vector<ConfigIssue> sorted = issues_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const ConfigIssue& a, const ConfigIssue& b) {
      return a.line < b.line || (a.line == b.line && a.column < b.column);
    });
    std::string out;
    for (const ConfigIssue& i : sorted) {
      if (!out.empty()) out += "\n";
      out += i.str(source_);
    }
    return out;
  }

 private:
  std::string source_;
  std::vector<ConfigIssue> issues_;
};

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "\"" + node.Scalar() + "\"";
    default:
      return "nothing";
  }
}

// The scalar text of `node` with ${ENV} expanded, or nullopt after reporting.
std::optional<std::string> scalar(Ctx& ctx, const YAML::Node& node, const std::string& path,
                                  std::string_view expected) {
  if (!node.IsScalar()) {
    ctx.fail(node, path, "expected " + std::string(expected) + ", got " + describe(node));
    return std::nullopt;
  }
  auto expanded = expandEnv(node.Scalar());
  if (!expanded) {
    ctx.fail(node, path, expanded.error().message);
    return std::nullopt;
  }
  return *expanded;
}

// Walks one YAML map, remembering which keys were read so that the rest can
// be reported as unknown.
class MapReader {
 public:
  MapReader(Ctx& ctx, const YAML::Node& node, std::string path)
      : ctx_(ctx), node_(node), path_(std::move(path)) {
    if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
      ctx_.fail(node_, path_.empty() ? "<root>" : path_,
                "expected a map of settings, got " + describe(node_));
      valid_ = false;
    }
  }

  // Calls fn(value, path) when `key` is present and not null.
  void field(const std::string& key,
             const std::function<void(const YAML::Node&, const std::string&)>& fn) {
    known_.push_back(key);
    if (!valid_ || !node_.IsMap()) return;
    const YAML::Node value = node_[key];
    if (!value.IsDefined() || value.IsNull()) return;
    fn(value, join(key));
  }

  void finish() {
    if (!valid_ || !node_.IsMap()) return;
    std::set<std::string> known(known_.begin(), known_.end());
    std::set<std::string> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      const YAML::Node key = it->first;
      std::string name = key.IsScalar() ? key.Scalar() : describe(key);
      if (!seen.insert(name).second) {
        // YAML parsers disagree on which duplicate wins; refuse the ambiguity.
        ctx_.fail(key, join(name), "duplicate key \"" + name + "\"; each key may appear once");
        continue;
      }
      if (known.count(name)) continue;
      std::string accepted;
      for (const std::string& k : known_) accepted += (accepted.empty() ? "" : ", ") + k;
      ctx_.fail(key, join(name), "unknown key \"" + name + "\"; accepted keys here: " + accepted);
    }
  }

 private:
  std::string join(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Ctx& ctx_;
  const YAML::Node node_;
  std::string path_;
  std::vector<std::string> known_;
  bool valid_ = true;
};

using Reader = std::function<void(const YAML::Node&, const std::string&)>;

Reader str(Ctx& ctx, std::string& out, bool allow_empty = true) {
  return [&ctx, &out, allow_empty](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "a string");
    if (!v) return;
    if (!allow_empty && v->empty()) {
      ctx.fail(n, path, "must not be empty");
      return;
    }
    out = *v;
  };
}

Reader boolean(Ctx& ctx, bool& out) {
  return [&ctx, &out](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "true or false");
    if (!v) return;
    if (*v == "true" || *v == "false") {
      out = *v == "true";
      return;
    }
    ctx.fail(n, path, "invalid value \"" + *v + "\"; expected true or false");
  };
}

// A service name of exit ordering: it becomes part of Redis keys (inside a
// {hash tag}) and of comma-separated lists, so only a plain set of
// characters is accepted.
Reader serviceName(Ctx& ctx, std::string& out, bool allow_empty) {
  return [&ctx, &out, allow_empty](const YAML::Node& n, const std::string& path) {
    std::string v;
    str(ctx, v, allow_empty)(n, path);
    for (char ch : v) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) &&
          std::string_view("-_.:/").find(ch) == std::string_view::npos) {
        ctx.fail(n, path,
                 "invalid service name \"" + v + "\": use letters, digits and - _ . : / only");
        return;
      }
    }
    out = v;
  };
}

enum class ZeroOk { kNo, kYes };

Reader duration(Ctx& ctx, Duration& out, ZeroOk zero) {
  return [&ctx, &out, zero](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "a duration like 500ms, 30s or 2m");
    if (!v) return;
    auto d = parseDuration(*v);
    if (!d) {
      ctx.fail(n, path, d.error().message);
      return;
    }
    if (*d == Duration::zero() && zero == ZeroOk::kNo) {
      ctx.fail(n, path, "invalid duration \"" + *v + "\": must be greater than zero");
      return;
    }
    out = *d;
  };
}

Reader integer(Ctx& ctx, int64_t& out, int64_t min, int64_t max) {
  return [&ctx, &out, min, max](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "an integer");
    if (!v) return;
    errno = 0;
    char* end = nullptr;
    long long value = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE) {
      ctx.fail(n, path,
               "invalid integer \"" + *v + "\"; expected a whole number from " +
                   std::to_string(min) + " to " + std::to_string(max));
      return;
    }
    if (value < min || value > max) {
      ctx.fail(n, path,
               "value " + *v + " out of range; expected " + std::to_string(min) + " to " +
                   std::to_string(max));
      return;
    }
    out = value;
  };
}

Reader number(Ctx& ctx, double& out, double min, double max) {
  return [&ctx, &out, min, max](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "a number");
    if (!v) return;
    char* end = nullptr;
    double value = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(value) || value < min || value > max) {
      std::ostringstream range;
      range << min << " to " << max;
      ctx.fail(n, path, "invalid number \"" + *v + "\"; expected a number from " + range.str());
      return;
    }
    out = value;
  };
}

template <typename E>
Reader choice(Ctx& ctx, E& out, std::vector<std::pair<std::string, E>> options) {
  return [&ctx, &out, options](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "one of the listed words");
    if (!v) return;
    std::string accepted;
    for (const auto& [name, value] : options) {
      if (*v == name) {
        out = value;
        return;
      }
      accepted += (accepted.empty() ? "" : ", ") + name;
    }
    ctx.fail(n, path, "invalid value \"" + *v + "\"; expected one of: " + accepted);
  };
}

template <typename T>
Reader parsed(Ctx& ctx, T& out, std::function<Result<T>(std::string_view)> parse) {
  return [&ctx, &out, parse](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "a string");
    if (!v) return;
    auto value = parse(*v);
    if (!value) {
      ctx.fail(n, path, value.error().message);
      return;
    }
    out = std::move(*value);
  };
}

template <typename T>
Reader optionalParsed(Ctx& ctx, std::optional<T>& out,
                      std::function<Result<T>(std::string_view)> parse) {
  return [&ctx, &out, parse](const YAML::Node& n, const std::string& path) {
    auto v = scalar(ctx, n, path, "a string");
    if (!v) return;
    if (v->empty()) {  // "${UNSET}" → not configured
      out.reset();
      return;
    }
    auto value = parse(*v);
    if (!value) {
      ctx.fail(n, path, value.error().message);
      return;
    }
    out = std::move(*value);
  };
}

// A list whose items are read by `item(node, path, index)`.
Reader list(Ctx& ctx, std::function<void(const YAML::Node&, const std::string&)> item,
            std::function<void()> clear) {
  return [&ctx, item, clear](const YAML::Node& n, const std::string& path) {
    if (!n.IsSequence()) {
      ctx.fail(n, path, "expected a list, got " + describe(n));
      return;
    }
    clear();
    for (size_t i = 0; i < n.size(); ++i) item(n[i], path + "[" + std::to_string(i) + "]");
  };
}

Result<RedisAddress> parseRedisAddress(std::string_view text) {
  RedisAddress out;
  if (text.starts_with("unix:")) {
    out.unix_path = std::string(text.substr(5));
    if (out.unix_path.empty() || out.unix_path.front() != '/') {
      return makeError(ErrorCode::kInvalidArgument,
                       "invalid Redis address \"" + std::string(text) +
                           "\"; a unix socket needs an absolute path, e.g. unix:/run/redis.sock");
    }
    return out;
  }
  auto hp = parseHostPort(text);
  if (!hp || hp->port == 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid Redis address \"" + std::string(text) +
                         "\"; expected host:port (e.g. 127.0.0.1:6379) or unix:/path");
  }
  out.host = hp->host;
  out.port = hp->port;
  return out;
}

Status checkHaproxySocket(std::string_view text) {
  if (text.starts_with("unix:") && text.size() > 6 && text[5] == '/') return {};
  if (text.starts_with("tcp:")) {
    auto hp = parseHostPort(text.substr(4));
    if (hp && hp->port != 0) return {};
  }
  return makeError(ErrorCode::kInvalidArgument, "invalid HAProxy socket \"" + std::string(text) +
                                                    "\"; expected unix:/path or tcp:host:port");
}

// "v1" or "group/version" (networking.k8s.io/v1): what the REST path is made of.
Status checkApiVersion(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view version = slash == std::string_view::npos ? text : text.substr(slash + 1);
  const std::string_view group = slash == std::string_view::npos ? "" : text.substr(0, slash);
  auto lowerDns = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    });
  };
  if (lowerDns(version) && version.find('.') == std::string_view::npos &&
      (slash == std::string_view::npos || lowerDns(group)))
    return {};
  return makeError(ErrorCode::kInvalidArgument,
                   "invalid apiVersion \"" + std::string(text) +
                       "\"; expected v1 for the core API or group/version, e.g. "
                       "networking.k8s.io/v1");
}

Status checkHookPath(std::string_view text) {
  if (!text.empty() && text.front() == '/' &&
      text.find_first_of(" \t\r\n") == std::string_view::npos)
    return {};
  return makeError(ErrorCode::kInvalidArgument,
                   "invalid path \"" + std::string(text) +
                       "\"; expected an absolute URL path like /lameduck/drain");
}

void readConfig(Ctx& ctx, const YAML::Node& root, Config& c) {
  MapReader top(ctx, root, "");

  top.field("admin", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("listen", parsed<HostPort>(ctx, c.admin.listen, parseHostPort));
    m.field("token", str(ctx, c.admin.token));
    m.field("allow_cidrs", list(
                               ctx,
                               [&](const YAML::Node& item, const std::string& ip) {
                                 auto v = scalar(ctx, item, ip, "a CIDR");
                                 if (!v) return;
                                 auto cidr = Cidr::parse(*v);
                                 if (cidr) {
                                   c.admin.allow_cidrs.push_back(*cidr);
                                   return;
                                 }
                                 // "${HOST_IP}" with HOST_IP unset: refuse (never widen
                                 // the list to "any source") and say which variable.
                                 std::string message = cidr.error().message;
                                 if (item.Scalar().find("${") != std::string::npos) {
                                   message += "; \"" + item.Scalar() + "\" expanded to \"" + *v +
                                              "\": is the variable set? (the Helm chart sets "
                                              "HOST_IP from the downward API)";
                                 }
                                 ctx.fail(item, ip, message);
                               },
                               [&] { c.admin.allow_cidrs.clear(); }));
    m.finish();
  });

  top.field("metrics", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("listen", parsed<HostPort>(ctx, c.metrics.listen, parseHostPort));
    m.field("pushgateway", [&](const YAML::Node& pn, const std::string& pp) {
      MapReader g(ctx, pn, pp);
      g.field("url", optionalParsed<HttpUrl>(ctx, c.metrics.pushgateway.url, parseHttpUrl));
      g.field("job", str(ctx, c.metrics.pushgateway.job, false));
      g.field("timeout", duration(ctx, c.metrics.pushgateway.timeout, ZeroOk::kNo));
      g.finish();
    });
    m.finish();
  });

  top.field("exit", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("grace_period", duration(ctx, c.exit.grace_period, ZeroOk::kNo));
    m.field("safety_margin", duration(ctx, c.exit.safety_margin, ZeroOk::kYes));
    m.field("compensation_reserve", duration(ctx, c.exit.compensation_reserve, ZeroOk::kYes));
    m.finish();
  });

  top.field("app", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("base_url", optionalParsed<HttpUrl>(ctx, c.app.base_url, parseHttpUrl));
    m.field("hooks", [&](const YAML::Node& hn, const std::string& hp) {
      MapReader h(ctx, hn, hp);
      auto hook = [&](std::string& out) {
        return [&ctx, &out](const YAML::Node& vn, const std::string& vp) {
          auto v = scalar(ctx, vn, vp, "a URL path");
          if (!v) return;
          if (auto ok = checkHookPath(*v); !ok) {
            ctx.fail(vn, vp, ok.error().message);
            return;
          }
          out = *v;
        };
      };
      h.field("drain", hook(c.app.hooks.drain));
      h.field("status", hook(c.app.hooks.status));
      h.field("compensations", hook(c.app.hooks.compensations));
      h.field("ack", hook(c.app.hooks.ack));
      h.field("terminate", hook(c.app.hooks.terminate));
      h.finish();
    });
    m.field("timeout", duration(ctx, c.app.timeout, ZeroOk::kNo));
    m.field("ports", list(
                         ctx,
                         [&](const YAML::Node& item, const std::string& ip) {
                           int64_t port = -1;
                           integer(ctx, port, 1, 65535)(item, ip);
                           if (port > 0) c.app.ports.push_back(static_cast<uint16_t>(port));
                         },
                         [&] { c.app.ports.clear(); }));
    m.finish();
  });

  top.field("drain", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("poll_interval", duration(ctx, c.drain.poll_interval, ZeroOk::kNo));
    m.field("quiet_period", duration(ctx, c.drain.quiet_period, ZeroOk::kYes));
    m.field("max_connections", integer(ctx, c.drain.max_connections, 0, 1'000'000));
    m.field("max_wait", duration(ctx, c.drain.max_wait, ZeroOk::kNo));
    m.field("proc_root", [&](const YAML::Node& vn, const std::string& vp) {
      auto v = scalar(ctx, vn, vp, "a directory path");
      if (!v) return;
      if (v->empty() || v->front() != '/') {
        ctx.fail(vn, vp, "invalid path \"" + *v + "\"; expected an absolute directory like /proc");
        return;
      }
      while (v->size() > 1 && v->back() == '/') v->pop_back();
      c.drain.proc_root = *v;
    });
    m.finish();
  });

  top.field("compensation", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("redis", [&](const YAML::Node& rn, const std::string& rp) {
      MapReader r(ctx, rn, rp);
      r.field("address",
              optionalParsed<RedisAddress>(ctx, c.compensation.redis.address, parseRedisAddress));
      r.field("username", str(ctx, c.compensation.redis.username));
      r.field("password", str(ctx, c.compensation.redis.password));
      r.field("db", integer(ctx, c.compensation.redis.db, 0, 1'000'000));
      r.field("timeout", duration(ctx, c.compensation.redis.timeout, ZeroOk::kNo));
      r.finish();
    });
    m.field("stream", str(ctx, c.compensation.stream, false));
    m.field("maxlen", integer(ctx, c.compensation.maxlen, 0, INT64_MAX));
    m.field("spool", str(ctx, c.compensation.spool, false));
    m.finish();
  });

  top.field("traffic", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    TrafficConfig& t = c.traffic;
    m.field("backend", choice<TrafficBackend>(ctx, t.backend,
                                              {{"none", TrafficBackend::kNone},
                                               {"haproxy", TrafficBackend::kHaproxy},
                                               {"kubernetes", TrafficBackend::kKubernetes},
                                               {"webhook", TrafficBackend::kWebhook}}));
    m.field("haproxy", [&](const YAML::Node& hn, const std::string& hp) {
      MapReader h(ctx, hn, hp);
      h.field("socket", [&](const YAML::Node& vn, const std::string& vp) {
        auto v = scalar(ctx, vn, vp, "a socket address");
        if (!v) return;
        if (auto ok = checkHaproxySocket(*v); !ok) {
          ctx.fail(vn, vp, ok.error().message);
          return;
        }
        t.haproxy.socket = *v;
      });
      h.field("server", [&](const YAML::Node& vn, const std::string& vp) {
        auto v = scalar(ctx, vn, vp, "backend/server");
        if (!v) return;
        size_t slash = v->find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == v->size() ||
            v->find('/', slash + 1) != std::string::npos) {
          ctx.fail(vn, vp,
                   "invalid server \"" + *v + "\"; expected backend/server, e.g. be_app/pod1");
          return;
        }
        t.haproxy.server = *v;
      });
      h.finish();
    });
    m.field("kubernetes", [&](const YAML::Node& kn, const std::string& kp) {
      MapReader k(ctx, kn, kp);
      k.field("api_version", [&](const YAML::Node& vn, const std::string& vp) {
        auto v = scalar(ctx, vn, vp, "an apiVersion like networking.k8s.io/v1");
        if (!v) return;
        if (auto ok = checkApiVersion(*v); !ok) {
          ctx.fail(vn, vp, ok.error().message);
          return;
        }
        t.kubernetes.api_version = *v;
      });
      k.field("kind", str(ctx, t.kubernetes.kind, false));
      k.field("namespace", str(ctx, t.kubernetes.namespace_));
      k.field("name", str(ctx, t.kubernetes.name, false));
      k.field("patch_type",
              choice<PatchType>(ctx, t.kubernetes.patch_type,
                                {{"merge", PatchType::kMerge}, {"json", PatchType::kJson}}));
      k.field("patch", str(ctx, t.kubernetes.patch, false));
      k.field("resource", str(ctx, t.kubernetes.resource));
      k.field("server", [&](const YAML::Node& vn, const std::string& vp) {
        optionalParsed<HttpUrl>(ctx, t.kubernetes.server, parseHttpUrl)(vn, vp);
        if (t.kubernetes.server && t.kubernetes.server->scheme != "https") {
          ctx.fail(vn, vp,
                   "the API server is reached over https only (the bearer token is never sent "
                   "in clear text); expected https://host:port");
          t.kubernetes.server.reset();
        }
      });
      k.field("token_file", str(ctx, t.kubernetes.token_file, false));
      k.field("ca_file", str(ctx, t.kubernetes.ca_file));
      k.field("insecure_skip_tls_verify", boolean(ctx, t.kubernetes.insecure_skip_tls_verify));
      k.field("timeout", duration(ctx, t.kubernetes.timeout, ZeroOk::kNo));
      k.finish();
    });
    m.field("webhook", [&](const YAML::Node& wn, const std::string& wp) {
      MapReader w(ctx, wn, wp);
      w.field("url", optionalParsed<HttpUrl>(ctx, t.webhook.url, parseHttpUrl));
      w.field("token", str(ctx, t.webhook.token));
      w.finish();
    });
    m.field("steps", list(
                         ctx,
                         [&](const YAML::Node& item, const std::string& ip) {
                           TrafficStep step;
                           MapReader s(ctx, item, ip);
                           bool has_weight = false;
                           s.field("weight", [&](const YAML::Node& vn, const std::string& vp) {
                             has_weight = true;
                             integer(ctx, step.weight, 0, 100)(vn, vp);
                           });
                           s.field("hold", duration(ctx, step.hold, ZeroOk::kYes));
                           s.finish();
                           if (item.IsMap() && !has_weight) {
                             ctx.fail(item, ip + ".weight",
                                      "missing; every step needs a weight from 0 to 100");
                           }
                           t.steps.push_back(step);
                         },
                         [&] { t.steps.clear(); }));
    m.field("gate", [&](const YAML::Node& gn, const std::string& gp) {
      MapReader g(ctx, gn, gp);
      g.field("source", choice<GateSource>(ctx, t.gate.source,
                                           {{"none", GateSource::kNone},
                                            {"prometheus", GateSource::kPrometheus},
                                            {"app", GateSource::kApp}}));
      g.field("max_error_rate", number(ctx, t.gate.max_error_rate, 0.0, 1.0));
      g.field("on_fail", choice<GateOnFail>(
                             ctx, t.gate.on_fail,
                             {{"hold", GateOnFail::kHold}, {"continue", GateOnFail::kContinue}}));
      g.field("prometheus", [&](const YAML::Node& pn, const std::string& pp) {
        MapReader pr(ctx, pn, pp);
        pr.field("url", optionalParsed<HttpUrl>(ctx, t.gate.prometheus_url, parseHttpUrl));
        pr.field("query", str(ctx, t.gate.prometheus_query, false));
        pr.finish();
      });
      g.field("interval", duration(ctx, t.gate.interval, ZeroOk::kNo));
      g.finish();
    });
    m.field("timeout", duration(ctx, t.timeout, ZeroOk::kNo));
    m.finish();
  });

  top.field("coordination", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    CoordinationConfig& co = c.coordination;
    m.field("service", serviceName(ctx, co.service, true));
    m.field("wait_for", list(
                            ctx,
                            [&](const YAML::Node& item, const std::string& ip) {
                              std::string name;
                              serviceName(ctx, name, false)(item, ip);
                              if (!name.empty()) co.wait_for.push_back(name);
                            },
                            [&] { co.wait_for.clear(); }));
    m.field("max_concurrent_exits", integer(ctx, co.max_concurrent_exits, 0, 1'000'000));
    m.field("heartbeat", duration(ctx, co.heartbeat, ZeroOk::kNo));
    m.finish();
  });

  top.field("compensator", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    CompensatorConfig& co = c.compensator;
    m.field("group", str(ctx, co.group, false));
    m.field("consumer", str(ctx, co.consumer));
    m.field("max_attempts", integer(ctx, co.max_attempts, 1, 1000));
    m.field("backoff", duration(ctx, co.backoff, ZeroOk::kYes));
    m.field("max_backoff", duration(ctx, co.max_backoff, ZeroOk::kYes));
    m.field("claim_idle", duration(ctx, co.claim_idle, ZeroOk::kNo));
    m.field("batch", integer(ctx, co.batch, 1, 10'000));
    m.field("listen", parsed<HostPort>(ctx, co.listen, parseHostPort));
    m.field("actions", [&](const YAML::Node& an, const std::string& ap) {
      if (!an.IsMap()) {
        ctx.fail(an, ap,
                 "expected a map of action name to {url, method, timeout}, got " + describe(an));
        return;
      }
      co.actions.clear();
      for (auto it = an.begin(); it != an.end(); ++it) {
        const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
        const std::string path = ap + "." + name;
        ActionConfig action;
        MapReader a(ctx, it->second, path);
        a.field("url", [&](const YAML::Node& vn, const std::string& vp) {
          auto v = scalar(ctx, vn, vp, "a URL template");
          if (!v) return;
          // Placeholders are filled per entry; the rest must be a valid URL.
          std::string probe = *v;
          for (size_t at; (at = probe.find("{{")) != std::string::npos;) {
            size_t end = probe.find("}}", at);
            if (end == std::string::npos) break;
            probe.replace(at, end + 2 - at, "x");
          }
          if (auto url = parseHttpUrl(probe); !url) {
            ctx.fail(vn, vp, url.error().message);
            return;
          }
          action.url = *v;
        });
        a.field("method", choice<std::string>(ctx, action.method,
                                              {{"POST", "POST"},
                                               {"PUT", "PUT"},
                                               {"PATCH", "PATCH"},
                                               {"DELETE", "DELETE"},
                                               {"GET", "GET"}}));
        a.field("timeout", duration(ctx, action.timeout, ZeroOk::kNo));
        a.finish();
        if (action.url.empty()) {
          ctx.fail(it->second, path + ".url", "required: the endpoint that applies this action");
        }
        co.actions[name] = action;
      }
    });
    m.finish();
  });

  top.field("trace", [&](const YAML::Node& n, const std::string& p) {
    for (const SectionFailure& f : readTrace(n, p, c.trace)) ctx.fail(f.at, f.path, f.message);
  });

  top.field("log", [&](const YAML::Node& n, const std::string& p) {
    MapReader m(ctx, n, p);
    m.field("level", parsed<log::Level>(ctx, c.log.level, log::parseLevel));
    m.field("format", parsed<log::Format>(ctx, c.log.format, log::parseFormat));
    m.finish();
  });

  top.finish();
}

// Checks that involve more than one key. Positions point at the key that has
// to change.
void crossCheck(Ctx& ctx, const YAML::Node& root, const Config& c) {
  auto at = [&](std::initializer_list<const char*> keys) {
    YAML::Node n = root;  // shares the tree; only used to find a Mark
    for (const char* k : keys) {
      const YAML::Node& cn = n;
      if (!cn.IsMap()) return YAML::Node();
      const YAML::Node next = cn[k];
      if (!next.IsDefined()) return YAML::Node();
      n.reset(next);
    }
    return n;
  };
  auto fail = [&](std::initializer_list<const char*> keys, const std::string& path,
                  std::string msg) {
    YAML::Node n = at(keys);
    if (n.IsDefined()) {
      ctx.fail(n, path, std::move(msg));
    } else {
      ctx.failNoPosition(path, std::move(msg));
    }
  };

  const ExitConfig& e = c.exit;
  if (e.safety_margin >= e.grace_period) {
    fail({"exit", "safety_margin"}, "exit.safety_margin",
         "safety margin " + formatDuration(e.safety_margin) +
             " leaves no exit budget; it must be smaller than exit.grace_period (" +
             formatDuration(e.grace_period) + ")");
  } else if (e.compensation_reserve >= e.budget()) {
    fail({"exit", "compensation_reserve"}, "exit.compensation_reserve",
         "compensation reserve " + formatDuration(e.compensation_reserve) +
             " must be smaller than the exit budget, grace_period - safety_margin = " +
             formatDuration(e.budget()));
  }

  const TrafficConfig& t = c.traffic;
  for (size_t i = 1; i < t.steps.size(); ++i) {
    if (t.steps[i].weight > t.steps[i - 1].weight) {
      fail({"traffic", "steps"}, "traffic.steps[" + std::to_string(i) + "].weight",
           "weight " + std::to_string(t.steps[i].weight) + " is above the previous step's " +
               std::to_string(t.steps[i - 1].weight) + "; steps must move weight down");
    }
  }
  switch (t.backend) {
    case TrafficBackend::kHaproxy:
      if (t.haproxy.server.empty())
        fail({"traffic", "haproxy"}, "traffic.haproxy.server",
             "required when traffic.backend is haproxy (backend/server, e.g. be_app/pod1)");
      break;
    case TrafficBackend::kKubernetes: {
      const auto& k = t.kubernetes;
      for (auto [key, value] : {std::pair{"api_version", &k.api_version},
                                {"kind", &k.kind},
                                {"name", &k.name},
                                {"patch", &k.patch}}) {
        if (value->empty())
          fail({"traffic", "kubernetes"}, std::string("traffic.kubernetes.") + key,
               "required when traffic.backend is kubernetes");
      }
      if (k.ca_file.empty() && !k.insecure_skip_tls_verify)
        fail({"traffic", "kubernetes", "ca_file"}, "traffic.kubernetes.ca_file",
             "required to verify the API server (the service-account ca.crt); only "
             "insecure_skip_tls_verify: true goes without");
      break;
    }
    case TrafficBackend::kWebhook:
      if (!t.webhook.url)
        fail({"traffic", "webhook"}, "traffic.webhook.url",
             "required when traffic.backend is webhook (http:// or https:// URL)");
      break;
    case TrafficBackend::kNone:
      break;
  }
  if (t.gate.source == GateSource::kPrometheus &&
      (!t.gate.prometheus_url || t.gate.prometheus_query.empty())) {
    fail({"traffic", "gate"}, "traffic.gate.prometheus",
         "url and query are required when traffic.gate.source is prometheus");
  }
  if (t.gate.source == GateSource::kApp && !c.app.base_url) {
    fail({"traffic", "gate", "source"}, "traffic.gate.source",
         "source app reads the app's status hook, so app.base_url must be set");
  }

  const CoordinationConfig& co = c.coordination;
  if ((!co.service.empty() || !co.wait_for.empty()) && !c.compensation.redis.address) {
    fail({"coordination"}, "coordination",
         "exit ordering needs Redis: set compensation.redis.address");
  }
  if (!co.service.empty() &&
      std::find(co.wait_for.begin(), co.wait_for.end(), co.service) != co.wait_for.end()) {
    fail({"coordination", "wait_for"}, "coordination.wait_for",
         "lists this pod's own service \"" + co.service +
             "\"; a service cannot wait for itself (max_concurrent_exits orders the exits of "
             "one service)");
  }
}

YAML::Node scalarOrFlow(const std::string& value) {
  // "[8080, 9090]" or "{a: 1}" become YAML structures; everything else stays
  // a plain string scalar so that "v1:2" or "#x" are taken literally.
  if (!value.empty() && (value.front() == '[' || value.front() == '{')) {
    try {
      return YAML::Load(value);
    } catch (const YAML::Exception&) {
    }
  }
  return YAML::Node(value);
}

Status applyOverride(YAML::Node& root, const Override& o) {
  if (o.key_path.empty() || o.key_path.front() == '.' || o.key_path.back() == '.' ||
      o.key_path.find("..") != std::string::npos) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "invalid --set key \"" + o.key_path + "\"; expected a dotted path like app.base_url");
  }
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  std::vector<std::string> keys;
  std::stringstream ss(o.key_path);
  for (std::string k; std::getline(ss, k, '.');) keys.push_back(k);
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node child = cur[keys[i]];
    if (!child.IsDefined() || child.IsNull()) {
      cur[keys[i]] = YAML::Node(YAML::NodeType::Map);
      child.reset(cur[keys[i]]);
    } else if (!child.IsMap()) {
      return makeError(ErrorCode::kInvalidArgument,
                       "--set " + o.key_path + ": \"" + keys[i] + "\" is not a map of settings");
    }
    cur.reset(child);
  }
  YAML::Node parent = cur;
  parent[keys.back()] = scalarOrFlow(o.value);
  return {};
}

}  // namespace

std::string RedisAddress::str() const {
  return unix_path.empty() ? HostPort{host, port}.str() : "unix:" + unix_path;
}

std::string ConfigIssue::str(std::string_view source) const {
  std::string where(source);
  if (line > 0) where += ":" + std::to_string(line) + ":" + std::to_string(column);
  return where + ": " + key_path + ": " + message;
}

Result<std::string> expandEnv(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out += c;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return makeError(ErrorCode::kInvalidArgument,
                       "unterminated \"${\" in \"" + std::string(text) +
                           "\"; expected ${NAME} or ${NAME:-default} (write $$ for a literal $)");
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (size_t dash = inner.find(":-"); dash != std::string_view::npos) {
      name = inner.substr(0, dash);
      fallback = inner.substr(dash + 2);
    }
    bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front()));
    for (char nc : name)
      valid = valid && (std::isalnum(static_cast<unsigned char>(nc)) || nc == '_');
    if (!valid) {
      return makeError(ErrorCode::kInvalidArgument, "invalid variable name \"" + std::string(name) +
                                                        "\" in \"" + std::string(text) +
                                                        "\"; names are letters, digits and _");
    }
    const char* value = std::getenv(std::string(name).c_str());
    if (value && *value) {
      out += value;
    } else if (fallback) {
      out += *fallback;
    }
    i = close;
  }
  return out;
}

Result<Config> parse(std::string_view yaml_text, std::string_view source,
                     const std::vector<Override>& overrides) {
  Ctx ctx(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    // mark is 0-based; e.msg is the bare reason without the position prefix.
    ConfigIssue issue{"<document>", e.mark.line + 1, e.mark.column + 1,
                      "YAML syntax error: " + e.msg};
    return makeError(ErrorCode::kInvalidArgument, issue.str(source));
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument, std::string(source) + ": " + e.what());
  }
  for (const Override& o : overrides) {
    if (auto ok = applyOverride(root, o); !ok) return std::unexpected(ok.error());
  }
  Config c;
  try {
    const YAML::Node croot = root;
    readConfig(ctx, croot, c);
    if (ctx.ok()) crossCheck(ctx, root, c);
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument, std::string(source) + ": " + e.what());
  }
  if (!ctx.ok()) return makeError(ErrorCode::kInvalidArgument, ctx.report());
  return c;
}

Result<Config> loadFile(const std::string& path, const std::vector<Override>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(ErrorCode::kNotFound,
                     "cannot read config file " + path + ": " + std::strerror(errno));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    return makeError(ErrorCode::kInternal, "error reading config file " + path);
  }
  return parse(buf.str(), path, overrides);
}

Result<Config> defaults(const std::vector<Override>& overrides) {
  return parse("", "<defaults>", overrides);
}

}  // namespace lameduck::config
