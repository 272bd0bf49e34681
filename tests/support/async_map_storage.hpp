// The seed's asynchronous interfaces implemented for tests: an
// AsyncRateStorage over a map whose reads and writes suspend (they complete
// through the executor, as a network client's would), and an AsyncKeyMutex
// whose waiters queue on the executor.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/asio.hpp>

namespace leaksnek::testing {

class AsyncMapStorage final : public AsyncRateStorage<std::string> {
 public:
  boost::asio::awaitable<Rate> read(const std::string& key) override {
    co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    std::lock_guard lock{mutex_};
    auto found = rates_.find(key);
    co_return found == rates_.end() ? Rate{} : found->second;
  }
  boost::asio::awaitable<void> write(const std::string& key, const Rate& rate, Duration /*expires_after*/) override {
    co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    std::lock_guard lock{mutex_};
    rates_[key] = rate;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Rate> rates_;
};

// Spins through the executor until the key is free: simple, and fair enough
// for tests on one io_context.
class AsyncMapMutex final : public AsyncKeyMutex<std::string> {
 public:
  boost::asio::awaitable<void> lock(const std::string& key) override {
    for (;;) {
      {
        std::lock_guard lock{mutex_};
        if (held_.insert(key).second) co_return;
      }
      co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    }
  }
  void unlock(const std::string& key) override {
    std::lock_guard lock{mutex_};
    held_.erase(key);
  }

 private:
  std::mutex mutex_;
  std::set<std::string> held_;
};

}  // namespace leaksnek::testing
