// A user storage for tests: a RateStorage over a std::map that cannot decide
// by itself, so limiters over it take the seed's lock-read-decide-write path.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include <leaksnek/leaksnek.hpp>

namespace leaksnek::testing {

class MapStorage final : public RateStorage<std::string> {
 public:
  Rate read(const std::string& key) override {
    std::lock_guard lock{mutex_};
    ++reads;
    auto found = rates_.find(key);
    return found == rates_.end() ? Rate{} : found->second;
  }
  void write(const std::string& key, const Rate& rate, Duration expires_after) override {
    std::lock_guard lock{mutex_};
    ++writes;
    last_expiry = expires_after;
    rates_[key] = rate;
  }
  void corrupt(const std::string& key, Rate rate) {
    std::lock_guard lock{mutex_};
    rates_[key] = std::move(rate);
  }
  Rate peek(const std::string& key) {
    std::lock_guard lock{mutex_};
    return rates_[key];
  }

  int reads = 0;
  int writes = 0;
  Duration last_expiry{0};

 private:
  std::mutex mutex_;
  std::map<std::string, Rate> rates_;
};

}  // namespace leaksnek::testing
