#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <thread>

#include <leaksnek/mutexes/redis_mutex.hpp>

namespace leaksnek::redis {

const Script& unlock_script() {
  static const Script script{
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"};
  return script;
}

std::string random_token() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64{seed};
  }()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string token;
  for (int word = 0; word < 2; ++word) {
    std::uint64_t bits = engine();
    for (int i = 0; i < 16; ++i) token.push_back(hex[(bits >> (4 * i)) & 0xf]);
  }
  return token;
}

void lock(Client& client, const std::string& name, const std::string& token, const MutexOptions& options) {
  const auto deadline = std::chrono::steady_clock::now() + options.wait;
  const std::string lease = std::to_string(
      std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(options.lease).count()));
  Duration pause = std::chrono::microseconds{100};
  while (true) {
    Reply reply = client.command({"SET", name, token, "NX", "PX", lease});
    if (reply.type == Reply::Type::status) return;  // OK: ours
    if (reply.type == Reply::Type::error) throw StorageError{"Redis refused the lock " + name + ": " + reply.text};
    if (std::chrono::steady_clock::now() + pause > deadline) {
      throw StorageError{"timed out waiting for the lock " + name};
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<Duration>(pause * 2, std::chrono::milliseconds{10});
  }
}

void unlock(Client& client, const std::string& name, const std::string& token) noexcept {
  try {
    std::string_view keys[] = {name};
    std::string_view args[] = {token};
    (void)client.eval(unlock_script(), keys, args);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the lease releases it
  }
}

}  // namespace leaksnek::redis
