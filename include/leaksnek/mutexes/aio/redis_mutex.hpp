// AsyncRedisMutex: RedisMutex on Boost.Asio (the seed's RedisAsyncMutex, done
// right): SET NX PX with a random token and a lease, released only by its
// owner; waiting for a held key suspends on a timer, never a thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/interfaces/mutexes/aio/key_mutex.hpp>
#include <leaksnek/mutexes/redis_mutex.hpp>
#include <leaksnek/redis/async_client.hpp>

namespace leaksnek {

template <class Key = std::string>
class AsyncRedisMutex final : public AsyncKeyMutex<Key> {
 public:
  explicit AsyncRedisMutex(std::shared_ptr<redis::AsyncClient> client, redis::MutexOptions options = {})
      : client_{std::move(client)}, options_{options} {}
  AsyncRedisMutex(boost::asio::any_io_executor executor, std::string_view url, redis::MutexOptions options = {})
      : AsyncRedisMutex{std::make_shared<redis::AsyncClient>(std::move(executor), options_for(url)), options} {}

  // Completes once this process holds `key`'s lock: one SET NX per try,
  // retried on a timer (100us doubling to 10ms). Throws StorageError when Redis
  // fails or options.wait runs out; KeyError for a key over the maximum size.
  boost::asio::awaitable<void> lock(const Key& key) override {
    std::string scratch;
    std::string name = redis::lock_key(client_->options(), redis::key_bytes(key, scratch));
    std::string token = redis::random_token();
    const std::string lease = std::to_string(
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease).count()));
    const auto deadline = std::chrono::steady_clock::now() + options_.wait;
    Duration pause = std::chrono::microseconds{100};
    boost::asio::steady_timer timer{co_await boost::asio::this_coro::executor};
    while (true) {
      auto [error, reply] = co_await client_->async_command(set_args(name, token, lease),
                                                            boost::asio::as_tuple(boost::asio::use_awaitable));
      if (error) failed("cannot take the lock ", name, reply.text);
      if (reply.type == redis::Reply::Type::error) failed("Redis refused the lock ", name, reply.text);
      if (reply.type == redis::Reply::Type::status) break;  // OK: ours
      if (std::chrono::steady_clock::now() + pause > deadline) failed("timed out waiting for the lock ", name, "");
      timer.expires_after(pause);
      co_await timer.async_wait(boost::asio::use_awaitable);
      pause = std::min<Duration>(pause * 2, std::chrono::milliseconds{10});
    }
    std::lock_guard guard{mutex_};
    tokens_[std::move(name)] = std::move(token);
  }

  // Sends the release (one EVALSHA) without waiting for it; never throws.
  void unlock(const Key& key) override {
    std::string scratch;
    std::string name;
    std::string token;
    try {
      name = redis::lock_key(client_->options(), redis::key_bytes(key, scratch));
      std::lock_guard guard{mutex_};
      auto found = tokens_.find(name);
      if (found == tokens_.end()) return;
      token = std::move(found->second);
      tokens_.erase(found);
      client_->eval(redis::unlock_script(), {std::move(name)}, {std::move(token)},
                    [](boost::system::error_code, const redis::Reply&) {});
    } catch (...) {  // NOLINT(bugprone-empty-catch): the lease releases it
    }
  }

 private:
  // Throws StorageError (out of the coroutine: GCC 12 miscompiles some string
  // temporaries inside coroutines).
  static std::vector<std::string> set_args(const std::string& name, const std::string& token,
                                           const std::string& lease) {
    return {"SET", name, token, "NX", "PX", lease};
  }

  [[noreturn]] static void failed(std::string_view what, std::string_view name, std::string_view why) {
    std::string message{what};
    message.append(name);
    if (!why.empty()) message.append(": ").append(why);
    throw StorageError{message};
  }

  static redis::Options options_for(std::string_view url) {
    redis::Options options;
    options.set_url(url);
    return options;
  }

  std::shared_ptr<redis::AsyncClient> client_;
  redis::MutexOptions options_;
  std::mutex mutex_;  // guards tokens_
  std::unordered_map<std::string, std::string> tokens_;
};

}  // namespace leaksnek
