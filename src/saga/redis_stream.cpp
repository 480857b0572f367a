#include "saga/redis_stream.h"

#include <algorithm>

#include "redis/redis_client.h"
#include "saga/stream_writer.h"

namespace lameduck::saga {
namespace {

class RedisSink final : public StreamSink {
 public:
  RedisSink(std::unique_ptr<redis::RedisClient> client, const config::CompensationConfig& c)
      : client_(std::move(client)), writer_(c.stream, c.maxlen) {}
  WriteResult write(const std::vector<CompensationRecord>& records) override {
    return writer_.write(*client_, records);
  }
  bool broken() const override { return client_->broken(); }

 private:
  std::unique_ptr<redis::RedisClient> client_;
  StreamWriter writer_;
};

}  // namespace

RedisStreamConnector::RedisStreamConnector(config::CompensationConfig config)
    : config_(std::move(config)) {}

Result<std::unique_ptr<StreamSink>> RedisStreamConnector::connect(Duration timeout) {
  config::RedisConfig rc = config_.redis;
  rc.timeout = std::min(rc.timeout, timeout);
  if (rc.timeout <= Duration::zero()) {
    return makeError(ErrorCode::kDeadlineExceeded, "no time left to connect to Redis");
  }
  auto client = redis::RedisClient::connect(rc);
  if (!client) return std::unexpected(client.error());
  return std::make_unique<RedisSink>(std::move(*client), config_);
}

}  // namespace lameduck::saga
