// clang-format off: kept exactly as the issue wrote it
// The seed's synchronous example, in C++: an outside check compiles and runs
// exactly this program.
#include <leaksnek/leaksnek.hpp>
#include <memory>
#include <string>

int main() {
  using namespace leaksnek;
  auto limiter = LeakyBucketLimiter<std::string>{
      rl("10/m"),
      std::make_shared<MemoryStorage<std::string>>(),
      std::make_shared<MemoryMutex<std::string>>(),
  };
  int allowed = 0;
  for (int i = 0; i < 25; ++i)
    if (!limiter.limit_exceeded("my_key")) ++allowed;
  return allowed == 10 ? 0 : 1;
}
