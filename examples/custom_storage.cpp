// Your own storage and mutex, as the seed's README shows for Redis: here a
// key-value store with string values stands in for a networked cache. The
// limiter locks a key with the KeyMutex, reads its Rate, decides and writes it
// back; a storage only stores the Rate's integers.
#include <leaksnek/leaksnek.hpp>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// A stand-in for a remote key-value store: get, set, set-if-absent, delete.
class KeyValueStore {
 public:
  std::optional<std::string> get(const std::string& key) {
    std::lock_guard lock{mutex_};
    auto found = values_.find(key);
    if (found == values_.end()) return std::nullopt;
    return found->second;
  }
  void set(const std::string& key, std::string value) {
    std::lock_guard lock{mutex_};
    values_[key] = std::move(value);
  }
  bool set_if_absent(const std::string& key, std::string value) {
    std::lock_guard lock{mutex_};
    return values_.try_emplace(key, std::move(value)).second;
  }
  void erase(const std::string& key) {
    std::lock_guard lock{mutex_};
    values_.erase(key);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> values_;
};

// The state of a key as "field,field,...".
class StoreRateStorage final : public leaksnek::RateStorage<std::string> {
 public:
  explicit StoreRateStorage(std::shared_ptr<KeyValueStore> store) : store_{std::move(store)} {}

  leaksnek::Rate read(const std::string& key) override {
    leaksnek::Rate rate;
    std::optional<std::string> text = store_->get("rate:" + key);
    if (!text) return rate;
    for (const char* p = text->data(); p < text->data() + text->size();) {
      std::int64_t field = 0;
      auto [next, error] = std::from_chars(p, text->data() + text->size(), field);
      if (error != std::errc{}) throw leaksnek::StateError{"malformed rate for " + key};
      rate.fields.push_back(field);
      p = next + 1;  // skip the comma
    }
    return rate;
  }

  void write(const std::string& key, const leaksnek::Rate& rate, leaksnek::Duration /*expires_after*/) override {
    // A real store would set expires_after as the key's TTL.
    std::string text;
    for (std::int64_t field : rate.fields) text += std::to_string(field) + ",";
    store_->set("rate:" + key, text);
  }

 private:
  std::shared_ptr<KeyValueStore> store_;
};

// A lock per key as a "lock:<key>" entry that only one caller can create.
class StoreKeyMutex final : public leaksnek::KeyMutex<std::string> {
 public:
  explicit StoreKeyMutex(std::shared_ptr<KeyValueStore> store) : store_{std::move(store)} {}

  void lock(const std::string& key) override {
    while (!store_->set_if_absent("lock:" + key, "held")) std::this_thread::yield();
  }
  void unlock(const std::string& key) override { store_->erase("lock:" + key); }

 private:
  std::shared_ptr<KeyValueStore> store_;
};

int main() {
  using namespace leaksnek;
  auto store = std::make_shared<KeyValueStore>();
  auto limiter = SlidingWindowLimiter<std::string>{
      rl("50/m"),
      std::make_shared<StoreRateStorage>(store),
      std::make_shared<StoreKeyMutex>(store),
  };

  // Four threads, 100 requests each, one key: the mutex makes every
  // read-decide-write one step, so exactly 50 pass.
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (!limiter.limit_exceeded("my_key")) ++allowed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::printf("allowed %d of 400; stored state: %s\n", allowed.load(), store->get("rate:my_key").value_or("").c_str());
  return allowed == 50 ? 0 : 1;
}
