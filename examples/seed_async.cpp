// The seed's asynchronous example in C++: a storage and a mutex of your own,
// written with coroutines over something asynchronous (here a key-value store
// whose every command completes after a simulated network round trip), and
// `if (!co_await limiter.limit_exceeded("my_key"))`.
#include <leaksnek/asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace net = boost::asio;
using namespace std::chrono_literals;

// A stand-in for an asynchronous client (Redis, say): every command takes a
// round trip of 50 microseconds on the caller's executor.
class AsyncKeyValueStore {
 public:
  net::awaitable<std::optional<std::string>> get(std::string key) {
    co_await round_trip();
    auto found = values_.find(key);
    co_return found == values_.end() ? std::nullopt : std::optional{found->second};
  }
  net::awaitable<void> set(std::string key, std::string value) {
    co_await round_trip();
    values_[key] = std::move(value);
  }
  net::awaitable<bool> set_if_absent(std::string key, std::string value) {
    co_await round_trip();
    co_return values_.try_emplace(key, std::move(value)).second;
  }
  net::awaitable<void> erase(std::string key) {
    co_await round_trip();
    values_.erase(key);
  }

 private:
  static net::awaitable<void> round_trip() {
    net::steady_timer latency{co_await net::this_coro::executor, 50us};
    co_await latency.async_wait(net::use_awaitable);
  }
  std::map<std::string, std::string> values_;  // one io_context thread: no lock needed
};

class StoreAsyncRateStorage final : public leaksnek::AsyncRateStorage<std::string> {
 public:
  explicit StoreAsyncRateStorage(std::shared_ptr<AsyncKeyValueStore> store) : store_{std::move(store)} {}

  net::awaitable<leaksnek::Rate> read(const std::string& key) override {
    leaksnek::Rate rate;
    std::optional<std::string> text = co_await store_->get("rate:" + key);
    if (!text) co_return rate;
    const char* end = text->data() + text->size();
    for (const char* p = text->data(); p < end;) {
      std::int64_t field = 0;
      auto [next, error] = std::from_chars(p, end, field);
      if (error != std::errc{}) throw leaksnek::StateError{"malformed rate for " + key};
      rate.fields.push_back(field);
      p = next + 1;
    }
    co_return rate;
  }

  net::awaitable<void> write(const std::string& key, const leaksnek::Rate& rate,
                             leaksnek::Duration /*expires_after: a TTL in a real store*/) override {
    std::string text;
    for (std::int64_t field : rate.fields) text += std::to_string(field) + ",";
    co_await store_->set("rate:" + key, std::move(text));
  }

 private:
  std::shared_ptr<AsyncKeyValueStore> store_;
};

class StoreAsyncMutex final : public leaksnek::AsyncKeyMutex<std::string> {
 public:
  explicit StoreAsyncMutex(std::shared_ptr<AsyncKeyValueStore> store) : store_{std::move(store)} {}

  net::awaitable<void> lock(const std::string& key) override {
    while (!co_await store_->set_if_absent("lock:" + key, "held")) {
      net::steady_timer retry{co_await net::this_coro::executor, 100us};
      co_await retry.async_wait(net::use_awaitable);
    }
  }
  void unlock(const std::string& key) override {
    // Must not block: the release is its own coroutine.
    net::co_spawn(executor_, store_->erase("lock:" + key), net::detached);
  }

  void bind(net::any_io_executor executor) { executor_ = std::move(executor); }

 private:
  std::shared_ptr<AsyncKeyValueStore> store_;
  net::any_io_executor executor_;
};

int main() {
  using namespace leaksnek;
  net::io_context io;
  auto store = std::make_shared<AsyncKeyValueStore>();
  auto mutex = std::make_shared<StoreAsyncMutex>(store);
  mutex->bind(io.get_executor());
  auto limiter = AsyncLeakyBucketLimiter<std::string>{
      io.get_executor(),
      rl("10/m"),
      std::make_shared<StoreAsyncRateStorage>(store),
      mutex,
  };

  int allowed = 0;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < 25; ++i) {
          if (!co_await limiter.limit_exceeded("my_key")) {
            ++allowed;  // Perform the operation
          }
        }
      },
      net::detached);
  io.run();
  std::printf("allowed %d of 25\n", allowed);
  return allowed == 10 ? 0 : 1;
}
