// The asynchronous face: the same exactness as the sync one, the four kinds
// of completion token, waiting in arrival order on timers, and per-operation
// cancellation that gives the booked capacity back. Waits use periods of a
// few milliseconds: no test waits more than 50 ms in all.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <leaksnek/asio.hpp>

#include "async_map_storage.hpp"

namespace leaksnek {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;

template <class A>
class EveryAsyncLimiter : public ::testing::Test {};
// The async face adds no algorithm: one algorithm of each kind of state (a
// trivially copyable word, a log that is not) covers its paths; every
// algorithm's decisions are tested on the sync face. (Each instantiation of
// the async face costs minutes of compilation under the sanitizers.)
using AllAlgorithms = ::testing::Types<Gcra, SlidingLog>;
TYPED_TEST_SUITE(EveryAsyncLimiter, AllAlgorithms);

// Many coroutines hammer one key on a frozen clock: exactly the limit passes.
template <class Limiter>
int hammer(net::io_context& io, Limiter& limiter, int coroutines, int calls, int threads = 1) {
  std::atomic<int> allowed{0};
  for (int c = 0; c < coroutines; ++c) {
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          for (int i = 0; i < calls; ++i) {
            if (!co_await limiter.limit_exceeded("hot")) ++allowed;
          }
        },
        net::detached);
  }
  std::vector<std::thread> runners;
  for (int t = 1; t < threads; ++t) runners.emplace_back([&] { io.run(); });
  io.run();
  for (auto& runner : runners) runner.join();
  return allowed;
}

TYPED_TEST(EveryAsyncLimiter, ExactlyTheLimitOverMemoryStorage) {
  net::io_context io;
  ManualClock clock;
  AsyncLimiter<TypeParam, std::string> limiter{io.get_executor(), rl("100/h"),
                                               std::make_shared<MemoryStorage<std::string>>(), clock};
  EXPECT_EQ(hammer(io, limiter, 200, 5), 100);
}

TYPED_TEST(EveryAsyncLimiter, ExactlyTheLimitOverTheSeedsAsyncInterfaces) {
  net::io_context io;
  ManualClock clock;
  AsyncLimiter<TypeParam, std::string> limiter{io.get_executor(), rl("30/h"),
                                               std::make_shared<testing::AsyncMapStorage>(),
                                               std::make_shared<testing::AsyncMapMutex>(), clock};
  EXPECT_EQ(hammer(io, limiter, 50, 2), 30);
}

TYPED_TEST(EveryAsyncLimiter, ExactlyTheLimitWithTheContextOnTwoThreads) {
  net::io_context io;
  ManualClock clock;
  AsyncLimiter<TypeParam, std::string> limiter{
      io.get_executor(), {rl("300/h"), rl("400/d")}, std::make_shared<MemoryStorage<std::string>>(), clock};
  EXPECT_EQ(hammer(io, limiter, 400, 3, 2), 300);
}

// The explicit-time twin, on both paths, decides as the sync face does.
TYPED_TEST(EveryAsyncLimiter, TryAcquireAtDecidesAtTheGivenTimeLikeTheSyncFace) {
  net::io_context io;
  ManualClock clock;  // never moved: every time below is explicit
  auto memory = std::make_shared<MemoryStorage<std::string>>();
  AsyncLimiter<TypeParam, std::string> on_memory{io.get_executor(), rl("2/s"), memory, clock};
  AsyncLimiter<TypeParam, std::string> on_seed{io.get_executor(), rl("2/s"),
                                               std::make_shared<testing::AsyncMapStorage>(),
                                               std::make_shared<testing::AsyncMapMutex>(), clock};
  Limiter<TypeParam, std::string> sync{"reference", rl("2/s"), memory, nullptr, clock};
  const std::vector<std::pair<Instant, std::int64_t>> events{
      {Instant{10s}, 1}, {Instant{10s}, 1},       {Instant{10s + 100ms}, 1}, {Instant{10s + 600ms}, 1},
      {Instant{11s}, 2}, {Instant{12s + 1ms}, 2}, {Instant{12s + 2ms}, 1}};
  std::vector<Decision> got_memory;
  std::vector<Decision> got_seed;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (const auto& [at, cost] : events) {
          got_memory.push_back(co_await on_memory.try_acquire_at("k", cost, at));
          got_seed.push_back(co_await on_seed.try_acquire_at("k", cost, at));
        }
      },
      net::detached);
  io.run();
  ASSERT_EQ(got_memory.size(), events.size());
  ASSERT_EQ(got_seed.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    Decision expected = sync.try_acquire_at("k", events[i].second, events[i].first);
    EXPECT_EQ(got_memory[i], expected) << i;
    EXPECT_EQ(got_seed[i], expected) << i;
  }
}

// reserve() and cancel(), as on the sync face: a reservation holds its slot
// until it is cancelled, on the memory path and on the seed's.
template <class L>
net::awaitable<void> reserve_then_cancel(L& limiter, Instant now, std::vector<bool>& steps) {
  Decision first = co_await limiter.try_acquire_at("k", 1, now, net::use_awaitable);
  steps.push_back(first.allowed);
  Reservation reservation = co_await limiter.reserve("k", 1, 5s, net::use_awaitable);
  steps.push_back(reservation.decision.allowed && reservation.wait == 1s);
  Decision taken = co_await limiter.try_acquire_at("k", 1, now + 1s, net::use_awaitable);  // the reserved slot
  steps.push_back(taken.allowed);
  co_await limiter.cancel("k", reservation, net::use_awaitable);
  Decision given_back = co_await limiter.try_acquire_at("k", 1, now + 1s, net::use_awaitable);
  steps.push_back(given_back.allowed);
}

TYPED_TEST(EveryAsyncLimiter, ReserveHoldsItsSlotUntilCancelledLikeTheSyncFace) {
  net::io_context io;
  ManualClock clock{Instant{100s}};
  AsyncLimiter<TypeParam, std::string> on_memory{io.get_executor(), rl("1/s"),
                                                 std::make_shared<MemoryStorage<std::string>>(), clock};
  AsyncLimiter<TypeParam, std::string> on_seed{io.get_executor(), rl("1/s"),
                                               std::make_shared<testing::AsyncMapStorage>(),
                                               std::make_shared<testing::AsyncMapMutex>(), clock};
  std::vector<bool> memory_steps;
  std::vector<bool> seed_steps;
  net::co_spawn(io, reserve_then_cancel(on_memory, clock.now(), memory_steps), net::detached);
  net::co_spawn(io, reserve_then_cancel(on_seed, clock.now(), seed_steps), net::detached);
  io.run();
  const std::vector<bool> expected{true, true, false, true};
  EXPECT_EQ(memory_steps, expected);
  EXPECT_EQ(seed_steps, expected);
}

TEST(AsyncLimiter, CompletesWithEveryKindOfToken) {
  net::io_context io;
  ManualClock clock;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("4/h"), std::make_shared<MemoryStorage<std::string>>(),
                                        clock};
  // A callback, never invoked inline.
  bool called = false;
  limiter.try_acquire("k", 1, [&](error_code error, Decision decision) {
    EXPECT_FALSE(error);
    EXPECT_TRUE(decision.allowed);
    EXPECT_EQ(decision.remaining, 3);
    called = true;
  });
  EXPECT_FALSE(called);
  io.run();
  EXPECT_TRUE(called);
  io.restart();

  // use_future, with the context running on another thread.
  auto work = net::make_work_guard(io);
  std::thread runner{[&] { io.run(); }};
  std::future<Decision> future = limiter.try_acquire("k", 1, net::use_future);
  EXPECT_EQ(future.get().remaining, 2);
  std::future<bool> exceeded = limiter.limit_exceeded("k", net::use_future);
  EXPECT_FALSE(exceeded.get());
  work.reset();
  runner.join();
  io.restart();

  // use_awaitable and the default (deferred), co_awaited; detached.
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        Decision last = co_await limiter.try_acquire("k", 1, net::use_awaitable);
        EXPECT_TRUE(last.allowed);
        EXPECT_EQ(last.remaining, 0);
        EXPECT_TRUE(co_await limiter.limit_exceeded("k"));
        Decision denied = co_await limiter.try_acquire("k");
        EXPECT_FALSE(denied.allowed);
        EXPECT_EQ(denied.retry_after, 15min);
      },
      net::detached);
  limiter.try_acquire("other", 4, net::detached);
  io.run();
  io.restart();
  bool other_full = false;
  limiter.try_acquire("other", 1, [&](error_code, Decision decision) { other_full = !decision.allowed; });
  io.run();
  EXPECT_TRUE(other_full) << "the detached call consumed its cost";
  EXPECT_THROW(limiter.try_acquire("k", 0, net::detached), CostError);
}

TEST(AsyncLimiter, WaitersCompleteInArrivalOrderOnTimers) {
  net::io_context io;
  // 1000/s, burst 1: one slot per millisecond; 12 waiters take about 12 ms.
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1000/s").with_burst(1),
                                        std::make_shared<MemoryStorage<std::string>>()};
  std::vector<int> order;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 12; ++i) {
    limiter.acquire("k", 1, 1s, [&, i](error_code error, Decision decision) {
      EXPECT_FALSE(error);
      EXPECT_TRUE(decision.allowed);
      order.push_back(i);
    });
  }
  io.run();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_GE(elapsed, 10ms) << "11 waits of 1 ms were booked";
}

TEST(AsyncLimiter, AcquireBeyondMaxWaitIsDeniedAtOnce) {
  net::io_context io;
  ManualClock clock;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1/h"), std::make_shared<MemoryStorage<std::string>>(),
                                        clock};
  std::vector<Decision> decisions;
  auto keep = [&](error_code error, Decision decision) {
    EXPECT_FALSE(error);
    decisions.push_back(decision);
  };
  limiter.acquire("k", 1, 1min, keep);
  limiter.acquire("k", 1, 1min, keep);
  io.run();
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_TRUE(decisions[0].allowed);
  EXPECT_FALSE(decisions[1].allowed);
  EXPECT_EQ(decisions[1].retry_after, 1h);
}

// With the decision clock frozen, a cancelled waiter's Decision::retry_after
// shows how far ahead it was booked: that is how these tests see whether a
// later reservation took the place a cancelled one gave back.
template <class Limiter>
Decision acquire_then_cancel(net::io_context& io, Limiter& limiter, error_code& error) {
  net::cancellation_signal cancel;
  Decision result;
  limiter.acquire("k", 1, 10s, net::bind_cancellation_slot(cancel.slot(), [&](error_code e, Decision decision) {
                    error = e;
                    result = decision;
                  }));
  net::post(io, [&] { cancel.emit(net::cancellation_type::terminal); });
  io.run();
  io.restart();
  return result;
}

TYPED_TEST(EveryAsyncLimiter, CancelledWaitGivesItsCapacityBack) {
  net::io_context io;
  ManualClock clock;
  AsyncLimiter<TypeParam, std::string> limiter{io.get_executor(), rl("2/s"),
                                               std::make_shared<MemoryStorage<std::string>>(), clock};
  limiter.try_acquire("k", 2, net::detached);
  io.run();
  io.restart();
  error_code error;
  Decision first = acquire_then_cancel(io, limiter, error);
  EXPECT_EQ(error, net::error::operation_aborted);
  EXPECT_FALSE(first.allowed);
  EXPECT_GT(first.retry_after, 0s);
  // Had the cancelled wait kept its capacity, the next one would be booked later.
  Decision second = acquire_then_cancel(io, limiter, error);
  EXPECT_EQ(error, net::error::operation_aborted);
  EXPECT_EQ(second.retry_after, first.retry_after);
}

TEST(AsyncLimiter, CancelledWaitOverTheSeedsInterfacesGivesItsCapacityBack) {
  net::io_context io;
  ManualClock clock;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1/s"), std::make_shared<testing::AsyncMapStorage>(),
                                        std::make_shared<testing::AsyncMapMutex>(), clock};
  limiter.try_acquire("k", 1, net::detached);
  io.run();
  io.restart();
  error_code error;
  Decision first = acquire_then_cancel(io, limiter, error);
  EXPECT_EQ(error, net::error::operation_aborted);
  EXPECT_EQ(first.retry_after, 1s);
  Decision second = acquire_then_cancel(io, limiter, error);
  EXPECT_EQ(second.retry_after, 1s);
}

TEST(AsyncLimiter, AwaitableOperatorsTimeoutCancelsTheWait) {
  using namespace net::experimental::awaitable_operators;
  net::io_context io;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1/h"), std::make_shared<MemoryStorage<std::string>>()};
  bool timed_out = false;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        co_await limiter.try_acquire("k", 1, net::use_awaitable);
        net::steady_timer timeout{io, 5ms};
        auto winner =
            co_await (limiter.acquire("k", 1, 2h, net::use_awaitable) || timeout.async_wait(net::use_awaitable));
        timed_out = winner.index() == 1;
        // The abandoned wait gave its place back: the next one is booked an hour out, not two.
        Decision next = co_await limiter.acquire("k", 1, 0s, net::use_awaitable);
        EXPECT_FALSE(next.allowed);
        EXPECT_LE(next.retry_after, 1h);
      },
      net::detached);
  io.run();
  EXPECT_TRUE(timed_out);
}

TEST(AsyncLimiter, CancellingOneWaiterKeepsTheOthersInOrder) {
  // The clock is frozen while they book: on the steady clock a machine busy
  // for 4 ms between two calls let a later waiter fit at once, ahead of an
  // earlier one still waiting (seen beside a CPU hog).
  net::io_context io;
  ManualClock clock;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("500/s").with_burst(1),
                                        std::make_shared<MemoryStorage<std::string>>(), clock};
  std::vector<int> order;
  net::cancellation_signal cancel;
  for (int i = 0; i < 6; ++i) {
    auto record = [&, i](error_code error, Decision) { order.push_back(error ? -i : i); };
    if (i == 3) {
      limiter.acquire("k", 1, 1s, net::bind_cancellation_slot(cancel.slot(), record));
    } else {
      limiter.acquire("k", 1, 1s, record);
    }
  }
  // Cancelled before the context runs: on a busy machine a posted cancel
  // could run after waiter 1's 2 ms timer has fired.
  cancel.emit(net::cancellation_type::terminal);
  io.run();
  // Waiter 0 fits at once; 3 is cancelled before its turn; the rest keep their order.
  EXPECT_EQ(order, (std::vector<int>{0, -3, 1, 2, 4, 5}));
}

TEST(AsyncLimiter, WaitersBookedForTheSameInstantCompleteInArrivalOrder) {
  // Fixed windows of 5 ms for 10: twenty waiters share the next two windows'
  // starts; Asio's timer queue alone would not keep equal expiries in order.
  // The clock is frozen while they book: on the steady clock a slow machine
  // crosses a window's start mid-reservation, and the late ones fit at once.
  net::io_context io;
  ManualClock clock;
  AsyncFixedWindowLimiter<std::string> limiter{io.get_executor(), rl("10/5ms"),
                                               std::make_shared<MemoryStorage<std::string>>(), clock};
  limiter.try_acquire("k", 10, net::detached);
  io.run();
  io.restart();
  std::vector<int> order;
  for (int i = 0; i < 20; ++i) {
    limiter.acquire("k", 1, 1s, [&, i](error_code error, Decision decision) {
      EXPECT_FALSE(error);
      EXPECT_TRUE(decision.allowed);
      order.push_back(i);
    });
  }
  io.run();
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST(AsyncLimiter, PendingOperationsOutliveTheLimiterObject) {
  net::io_context io;
  error_code memory_error;
  bool seed_path_done = false;
  net::cancellation_signal cancel;
  {
    AsyncGcraLimiter<std::string> memory{io.get_executor(), rl("1/h"), std::make_shared<MemoryStorage<std::string>>()};
    memory.try_acquire("k", 1, net::detached);
    memory.acquire("k", 1, 2h,
                   net::bind_cancellation_slot(cancel.slot(), [&](error_code e, Decision) { memory_error = e; }));
    AsyncGcraLimiter<std::string> seed_path{io.get_executor(), rl("1/h"), std::make_shared<testing::AsyncMapStorage>(),
                                            std::make_shared<testing::AsyncMapMutex>()};
    seed_path.limit_exceeded("k", [&](error_code e, bool exceeded) {
      EXPECT_FALSE(e);
      EXPECT_FALSE(exceeded);
      seed_path_done = true;
    });
  }  // both limiters destroyed with their operations pending
  net::post(io, [&] { cancel.emit(net::cancellation_type::terminal); });
  io.run();
  EXPECT_EQ(memory_error, net::error::operation_aborted);
  EXPECT_TRUE(seed_path_done);
}

TEST(AsyncLimiter, SeedPathHonoursPartialAndTotalCancellation) {
  for (auto type : {net::cancellation_type::partial, net::cancellation_type::total}) {
    net::io_context io;
    ManualClock clock;
    AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1/h"), std::make_shared<testing::AsyncMapStorage>(),
                                          std::make_shared<testing::AsyncMapMutex>(), clock};
    limiter.try_acquire("k", 1, net::detached);
    io.run();
    io.restart();
    net::cancellation_signal cancel;
    error_code error;
    limiter.acquire("k", 1, 2h, net::bind_cancellation_slot(cancel.slot(), [&](error_code e, Decision) { error = e; }));
    net::steady_timer soon{io, 2ms};
    soon.async_wait([&](error_code) { cancel.emit(type); });
    io.run();
    EXPECT_EQ(error, net::error::operation_aborted);
  }
}

TEST(AsyncLimiter, WaitsAndCancellationsWithTheContextOnTwoThreads) {
  // Callers on their own strands, the io_context on two threads: half the
  // waits are cancelled (their capacity given back), the rest complete
  // allowed. 20/s with burst 1: a slot every 50 ms, so a cancel posted right
  // after its wait began comes in time even on a busy machine.
  net::io_context io;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("20/s").with_burst(1),
                                        std::make_shared<MemoryStorage<std::string>>()};
  constexpr int callers = 10;
  std::vector<net::cancellation_signal> signals(callers);
  std::atomic<int> allowed{0};
  std::atomic<int> aborted{0};
  for (int i = 0; i < callers; ++i) {
    auto strand = net::make_strand(io);
    net::post(strand, [&, i, strand] {
      auto handler = [&](error_code error, Decision decision) {
        if (error == net::error::operation_aborted) {
          ++aborted;
        } else if (decision.allowed) {
          ++allowed;
        }
      };
      limiter.acquire("k", 1, 1s,
                      net::bind_cancellation_slot(signals[static_cast<std::size_t>(i)].slot(),
                                                  net::bind_executor(strand, handler)));
      if (i % 2 == 1)
        net::post(strand, [&, i] { signals[static_cast<std::size_t>(i)].emit(net::cancellation_type::terminal); });
    });
  }
  std::thread second{[&] { io.run(); }};
  io.run();
  second.join();
  EXPECT_EQ(allowed + aborted, callers);
  EXPECT_GE(aborted, 1);
  EXPECT_GE(allowed, callers / 2);
}

// A storage whose reads fail, as a lost connection would.
class FailingStorage final : public AsyncRateStorage<std::string> {
 public:
  net::awaitable<Rate> read(const std::string&) override {
    throw std::runtime_error{"connection lost"};
    co_return Rate{};
  }
  net::awaitable<void> write(const std::string&, const Rate&, Duration) override { co_return; }
};

TEST(AsyncLimiter, AFailingStorageIsAnErrorAndNeverReadsAsAllowed) {
  net::io_context io;
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1/s"), std::make_shared<FailingStorage>(),
                                        std::make_shared<testing::AsyncMapMutex>()};
  error_code error;
  bool exceeded = false;
  limiter.limit_exceeded("k", [&](error_code e, bool result) {
    error = e;
    exceeded = result;
  });
  io.run();
  EXPECT_EQ(error, make_error_code(errc::storage_failed));
  EXPECT_TRUE(exceeded);
}

}  // namespace
}  // namespace leaksnek
