// The seed's decorators: rate_limit() over any callable, async_rate_limit()
// over a coroutine; a call over the limit returns the fallback and never
// reaches the function.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <leaksnek/asio.hpp>
#include <leaksnek/decorators/aio/rate_limit.hpp>
#include <leaksnek/decorators/rate_limit.hpp>
#include <leaksnek/leaksnek.hpp>

namespace leaksnek {
namespace {

using namespace std::chrono_literals;

TEST(RateLimitDecorator, OverTheLimitReturnsTheFallbackWithoutCallingPerKeyFromTheArguments) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  auto limiter = std::make_shared<LeakyBucketLimiter<std::string>>(rl("2/m"), storage, nullptr, clock);
  int calls = 0;
  auto add = rate_limit(
      limiter, [](const std::string& user, int, int) { return "user:" + user; },
      -1)([&calls](const std::string&, int a, int b) {
    ++calls;
    return a + b;
  });
  EXPECT_EQ(add("ann", 1, 2), 3);
  EXPECT_EQ(add("ann", 3, 4), 7);
  EXPECT_EQ(add("ann", 5, 6), -1);
  EXPECT_EQ(calls, 2) << "a call over the limit never reaches the function";
  EXPECT_EQ(add("bob", 1, 1), 2) << "another key, its own limit";
  clock.advance(30s);  // one of ann's two leaks out
  EXPECT_EQ(add("ann", 2, 2), 4);
  EXPECT_EQ(calls, 4);
  // The key is the key function's: the limiter saw "user:ann".
  EXPECT_TRUE(limiter->limit_exceeded("user:ann"));
}

TEST(RateLimitDecorator, ALimiterByReferenceAMoveOnlyArgumentAndACommonResultType) {
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  FixedWindowLimiter<std::string> limiter{rl("1/h"), storage};
  auto length = rate_limit(
      limiter, [](const std::unique_ptr<std::string>& text) { return *text; },
      0L)([](std::unique_ptr<std::string> text) { return static_cast<int>(text->size()); });
  long first = length(std::make_unique<std::string>("abc"));  // int and long: long
  EXPECT_EQ(first, 3);
  EXPECT_EQ(length(std::make_unique<std::string>("abc")), 0);
}

TEST(AsyncRateLimitDecorator, OverTheLimitCoReturnsTheFallbackWithoutAwaitingTheFunction) {
  boost::asio::io_context io;
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("2/h"), storage, clock};
  int calls = 0;
  auto fetch = async_rate_limit(
      limiter, [](const std::string& host, int) { return host; },
      std::string{"denied"})([&calls](std::string host, int page) -> boost::asio::awaitable<std::string> {
    ++calls;
    co_return host + "/" + std::to_string(page);
  });
  auto results = boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<std::vector<std::string>> {
        std::vector<std::string> out;
        for (int page = 1; page <= 3; ++page) out.push_back(co_await fetch(std::string{"a.org"}, page));
        out.push_back(co_await fetch(std::string{"b.org"}, 9));
        co_return out;
      },
      boost::asio::use_future);
  io.run();
  EXPECT_EQ(results.get(), (std::vector<std::string>{"a.org/1", "a.org/2", "denied", "b.org/9"}));
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace leaksnek
