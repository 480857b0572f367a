#include "support/redis.h"

#include <signal.h>

#include "redis/redis_client.h"

namespace lameduck::testing {

RedisServer::RedisServer(bool persistent, std::string password)
    : socket_(dir_.file("redis.sock")), persistent_(persistent), password_(std::move(password)) {
  start();
}

RedisServer::~RedisServer() {
  if (process_ && process_->running()) {
    process_->signal(SIGTERM);
    process_->waitExit(10s);
  }
}

bool RedisServer::start() {
  std::vector<std::string> argv{"/usr/bin/redis-server",
                                "--port",
                                "0",
                                "--unixsocket",
                                socket_,
                                "--unixsocketperm",
                                "700",
                                "--dir",
                                dir_.path(),
                                "--save",
                                ""};
  if (persistent_) {
    argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always"});
  } else {
    argv.insert(argv.end(), {"--appendonly", "no"});
  }
  if (!password_.empty()) argv.insert(argv.end(), {"--requirepass", password_});
  process_ = std::make_unique<Process>(argv, dir_.file("redis.log"));
  return waitUntil([&] { return cli({"PING"}).find("PONG") != std::string::npos; }, 20s, 20ms);
}

void RedisServer::kill() {
  if (process_) {
    process_->signal(SIGKILL);
    process_->waitExit(10s);
  }
}

config::RedisConfig RedisServer::config(std::chrono::milliseconds timeout) const {
  config::RedisConfig c;
  c.address = config::RedisAddress{"", 0, socket_};
  c.password = password_;
  c.timeout = timeout;
  return c;
}

std::map<std::string, int> RedisServer::streamIds(const std::string& stream) const {
  std::map<std::string, int> ids;
  auto client = redis::RedisClient::connect(config(5000ms));
  if (!client) return ids;
  // Page by page: a whole stream of 10,000 entries is over the client's
  // bound on one reply.
  std::string start = "-";
  for (;;) {
    auto r = (*client)->command({"XRANGE", stream, start, "+", "COUNT", "1000"});
    if (!r || r->elements.empty()) return ids;
    for (const redis::RedisReply& entry : r->elements) {
      for (const auto& [field, value] : redis::fieldsOf(entry)) {
        if (field == "id") ids[value]++;
      }
    }
    const redis::RedisReply& last = r->elements.back();
    if (last.elements.empty()) return ids;
    start = "(" + last.elements[0].str;
  }
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"/usr/bin/redis-cli", "-s", socket_};
  if (!password_.empty()) argv.insert(argv.end(), {"--no-auth-warning", "-a", password_});
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = dir_.file("cli.out");
  runCommand(argv, out, 10s);
  return readFile(out);
}

}  // namespace lameduck::testing
