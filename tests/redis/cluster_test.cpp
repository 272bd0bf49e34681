// Redis Cluster: the routing pieces with no server (key slots, the slot map,
// URLs), then a real 6-node cluster on loopback: exact limits on keys over
// every master, a slot migrated mid-run, a master killed mid-run.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <leaksnek/asio.hpp>
#include <leaksnek/leaksnek.hpp>
#include <leaksnek/redis/cluster.hpp>
#include <leaksnek/storages/aio/redis_storage.hpp>
#include <leaksnek/storages/redis_storage.hpp>

#include "redis_cluster.hpp"

namespace leaksnek {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(RedisClusterSlots, Crc16OfTheKeyOrItsHashTag) {
  EXPECT_EQ(redis::key_slot("123456789"), 12739);  // the cluster spec's CRC16 check value 0x31C3
  EXPECT_EQ(redis::key_slot(""), 0);
  EXPECT_EQ(redis::key_slot("{user1000}.following"), redis::key_slot("{user1000}.followers"));
  EXPECT_EQ(redis::key_slot("{user1000}.following"), redis::key_slot("user1000"));
  EXPECT_EQ(redis::key_slot("foo{}{bar}"), redis::key_slot(std::string_view{"foo{}{bar}"}));  // empty tag: whole key
  EXPECT_NE(redis::key_slot("foo{}{bar}"), redis::key_slot("bar"));
  EXPECT_EQ(redis::key_slot("foo{{bar}}zap"), redis::key_slot("{bar"));  // the first { to the next }
  EXPECT_EQ(redis::key_slot("foo{bar}{zap}"), redis::key_slot("bar"));
}

TEST(RedisClusterSlots, EveryKeyOfOneDecisionSharesItsSlot) {
  redis::Options options;
  redis::PreparedPolicy a{options, "api", "gcra", std::vector{RateLimit{10, 1s}}};
  redis::PreparedPolicy b{options, "api", "gcra", std::vector{RateLimit{10, 1s}, RateLimit{100, 1min}}};
  for (std::string key : {"alice", "{x}", "a}b{c", ""}) {
    EXPECT_EQ(redis::key_slot(a.key(key)), redis::key_slot(b.key(key))) << key;
  }
}

redis::Reply integer(long long v) { return {redis::Reply::Type::integer, {}, v, {}}; }
redis::Reply text(std::string t) { return {redis::Reply::Type::string, std::move(t), 0, {}}; }
redis::Reply array(std::vector<redis::Reply> e) { return {redis::Reply::Type::array, {}, 0, std::move(e)}; }

TEST(RedisClusterSlots, TheMapFromClusterSlots) {
  redis::Endpoint asked;
  asked.host = "10.0.0.9";
  asked.port = 7000;
  asked.password = "pw";
  redis::Reply reply = array({
      array({integer(0), integer(5460), array({text("10.0.0.1"), integer(7001), text("id1")}),
             array({text("10.0.0.4"), integer(7004), text("id4")})}),
      array({integer(5461), integer(10922), array({text(""), integer(7000), text("id0")})}),
      array({integer(10923), integer(16000), array({text("10.0.0.1"), integer(7001), text("id1")})}),
  });
  auto map = redis::SlotMap::parse(reply, asked);
  ASSERT_EQ(map.masters().size(), 2U);
  EXPECT_EQ(map.masters()[0].host, "10.0.0.1");
  EXPECT_EQ(map.masters()[0].password, "pw");    // credentials as given
  EXPECT_EQ(map.masters()[1].host, "10.0.0.9");  // an empty host: the node that answered
  EXPECT_EQ(*map.owner(0), 0U);
  EXPECT_EQ(*map.owner(5461), 1U);
  EXPECT_EQ(*map.owner(16000), 0U);
  EXPECT_FALSE(map.owner(16001));
  EXPECT_EQ(map.unserved(), 383);
  EXPECT_THROW(
      (void)redis::SlotMap::parse(array({array({integer(0), integer(16384), array({text("h"), integer(1)})})}), asked),
      StorageError);
  EXPECT_THROW((void)redis::SlotMap::parse(text("x"), asked), StorageError);
  // A nil host (cluster-preferred-endpoint-type unknown-endpoint): the node that answered.
  auto unknown = redis::SlotMap::parse(
      array({array({integer(0), integer(16383), array({redis::Reply{}, integer(7005), text("id5")})})}), asked);
  ASSERT_EQ(unknown.masters().size(), 1U);
  EXPECT_EQ(unknown.masters()[0].host, "10.0.0.9");
  EXPECT_EQ(unknown.masters()[0].port, 7005);
  EXPECT_EQ(unknown.unserved(), 0);
  // An error answer is named, not parsed.
  try {
    (void)redis::SlotMap::parse(
        redis::Reply{redis::Reply::Type::error, "ERR This instance has cluster support disabled", 0, {}}, asked);
    ADD_FAILURE();
  } catch (const StorageError& e) {
    EXPECT_NE(std::string{e.what()}.find("10.0.0.9:7000 answered CLUSTER SLOTS with ERR This instance"),
              std::string::npos)
        << e.what();
  }
}

TEST(RedisClusterUrl, NodesCredentialsAndNoDatabase) {
  redis::Options options;
  options.set_url("redis-cluster://bob:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002");
  ASSERT_EQ(options.cluster.size(), 3U);
  EXPECT_TRUE(options.is_cluster());
  EXPECT_EQ(options.cluster[1].host, "10.0.0.2");
  EXPECT_EQ(options.cluster[1].port, 7001);
  EXPECT_EQ(options.cluster[2].host, "::1");
  EXPECT_EQ(options.cluster[2].user, "bob");
  EXPECT_EQ(options.cluster[2].password, "s@cret");
  auto message = [](std::string url) {
    try {
      redis::Options{}.set_url(url);
    } catch (const Error& e) {
      return std::string{e.what()};
    }
    return std::string{};
  };
  EXPECT_NE(message("redis-cluster://h:7000/3").find("only database 0"), std::string::npos);
  EXPECT_NE(message("redis-cluster://h:7000,,h:7001").find("expected redis-cluster://"), std::string::npos);
  EXPECT_NE(message("redis-cluster://h:70000").find("the port must be"), std::string::npos);
  EXPECT_EQ(message("redis-cluster://h:7000/"), "");
  options.set_url("redis://h:1/2");  // back to one server
  EXPECT_FALSE(options.is_cluster());
}

// -- Against a real cluster --------------------------------------------------

redis::Options client_options(const testing::RedisCluster& cluster, Duration timeout = 10s,
                              OnStorageError on_error = OnStorageError::fail_closed) {
  redis::Options options = cluster.options();
  options.timeout = timeout;
  options.retry_interval = 50ms;
  options.on_error = on_error;
  return options;
}

// User keys whose decision keys (policy "p") fall on every master, two each.
std::vector<std::string> keys_on_every_master(const testing::RedisCluster& cluster, const RateLimit& limit,
                                              std::string_view algorithm) {
  redis::PreparedPolicy policy{redis::Options{}, "p", algorithm, std::vector{limit}};
  std::map<int, std::vector<std::string>> by_master;
  auto full = [&] {
    return by_master.size() == 3 &&
           std::all_of(by_master.begin(), by_master.end(), [](const auto& entry) { return entry.second.size() == 2; });
  };
  for (int i = 0; i < 1000 && !full(); ++i) {
    std::string key = "user-" + std::to_string(i);
    auto& keys = by_master[cluster.master_of(redis::key_slot(policy.key(key)))];
    if (keys.size() < 2) keys.push_back(key);
  }
  std::vector<std::string> keys;
  for (auto& [port, some] : by_master) keys.insert(keys.end(), some.begin(), some.end());
  return keys;
}

// Three blocking clients (each with its own pools, as separate processes)
// and one asynchronous client (all its calls in flight at once) on keys of
// every master: each key admits exactly its limit.
template <class A>
void exactly_the_limit(const testing::RedisCluster& cluster, std::string_view algorithm) {
  SCOPED_TRACE(std::string{algorithm});
  const RateLimit limit{40, 1h};
  const std::vector<std::string> keys = keys_on_every_master(cluster, limit, algorithm);
  ASSERT_EQ(keys.size(), 6U);
  std::map<std::string, std::atomic<int>> allowed;
  for (const auto& key : keys) allowed[key] = 0;
  std::vector<std::thread> clients;
  std::atomic<std::uint64_t> redirections{0};
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&] {
      auto storage = std::make_shared<RedisStorage<std::string>>(client_options(cluster));
      Limiter<A, std::string> limiter{"p", limit, storage};
      for (int round = 0; round < 25; ++round) {
        for (const auto& key : keys) allowed[key] += limiter.try_acquire(key).allowed ? 1 : 0;
      }
      redirections += storage->statistics().redirections;
      EXPECT_EQ(storage->statistics().failures, 0U) << storage->client()->last_failure();
    });
  }
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), client_options(cluster));
  AsyncLimiter<A, std::string> limiter{context.get_executor(), "p", limit, storage};
  int done = 0;
  for (int round = 0; round < 25; ++round) {
    for (const auto& key : keys) {
      limiter.try_acquire(key, 1, [&, key](boost::system::error_code error, Decision d) {
        EXPECT_FALSE(error) << error.message();
        allowed[key] += d.allowed ? 1 : 0;
        ++done;
      });
    }
  }
  context.run();
  for (auto& client : clients) client.join();
  EXPECT_EQ(done, 25 * 6);
  for (const auto& key : keys) EXPECT_EQ(allowed[key], 40) << key;  // 100 attempts per key
  EXPECT_EQ(storage->statistics().failures, 0U) << storage->client()->last_failure();
  EXPECT_EQ(redirections.load(), 0U);  // the map was right from the start
}

TEST(RedisClusterLive, ClientsOnKeysOverEveryMasterGetExactlyTheLimit) {
  testing::RedisCluster cluster;
  exactly_the_limit<Gcra>(cluster, "gcra");
  exactly_the_limit<FixedWindow>(cluster, "fixed-window");
  exactly_the_limit<SlidingWindow>(cluster, "sliding-window");
  exactly_the_limit<SlidingLog>(cluster, "sliding-log");
}

// Moves `slot` from its master to another, as redis-cli --cluster reshard
// does: IMPORTING and MIGRATING, MIGRATE of its keys a few at a time, then
// NODE on every master. Returns the new master's port.
int migrate(const testing::RedisCluster& cluster, int slot, const std::atomic<bool>& keep_going_slowly) {
  const int from = cluster.master_of(slot);
  int to = -1;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.port(i) != from && cluster.is_master(cluster.port(i))) to = cluster.port(i);
  }
  const std::string s = std::to_string(slot);
  const std::string from_id = cluster.node_id(from);
  const std::string to_id = cluster.node_id(to);
  EXPECT_EQ(cluster.on(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", from_id}).text, "OK");
  EXPECT_EQ(cluster.on(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", to_id}).text, "OK");
  // Half-way for a while: some keys answered here, the rest ASKed there.
  for (int step = 0; step < 50; ++step) {
    redis::Reply keys = cluster.on(from, {"CLUSTER", "GETKEYSINSLOT", s, "1"});
    if (keys.elements.empty()) break;
    std::vector<std::string> command{"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS"};
    for (const auto& key : keys.elements) command.push_back(key.text);
    EXPECT_EQ(cluster.on(from, command).type, redis::Reply::Type::status);
    if (keep_going_slowly) std::this_thread::sleep_for(20ms);
  }
  std::this_thread::sleep_for(100ms);  // calls are ASKed to the new master meanwhile
  for (;;) {
    redis::Reply keys = cluster.on(from, {"CLUSTER", "GETKEYSINSLOT", s, "100"});
    if (keys.elements.empty()) break;
    std::vector<std::string> command{"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS"};
    for (const auto& key : keys.elements) command.push_back(key.text);
    EXPECT_EQ(cluster.on(from, command).type, redis::Reply::Type::status);
  }
  EXPECT_EQ(cluster.on(to, {"CLUSTER", "SETSLOT", s, "NODE", to_id}).text, "OK");
  EXPECT_EQ(cluster.on(from, {"CLUSTER", "SETSLOT", s, "NODE", to_id}).text, "OK");
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const int port = cluster.port(i);
    if (port != from && port != to && cluster.is_master(port))
      (void)cluster.on(port, {"CLUSTER", "SETSLOT", s, "NODE", to_id});
  }
  return to;
}

TEST(RedisClusterLive, ASlotMigratedMidRunLosesAndDoublesNoDecision) {
  testing::RedisCluster cluster;
  const RateLimit limit{200, 1h};
  // Three keys in one slot (each has its own hash tag, so find some).
  redis::PreparedPolicy policy{redis::Options{}, "p", "fixed-window", std::vector{limit}};
  const int slot = redis::key_slot(policy.key("k0"));
  std::vector<std::string> keys{"k0"};
  for (int i = 1; keys.size() < 3; ++i) {
    if (redis::key_slot(policy.key("k" + std::to_string(i))) == slot) keys.push_back("k" + std::to_string(i));
  }
  const int before = cluster.master_of(slot);

  std::atomic<int> allowed{0}, attempts{0};
  std::atomic<bool> migrating{true};
  std::vector<std::thread> clients;
  std::atomic<std::uint64_t> redirections{0};
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      auto storage = std::make_shared<RedisStorage<std::string>>(client_options(cluster));
      Limiter<FixedWindow, std::string> limiter{"p", limit, storage};
      // Until the migration is over, and 600 calls at least.
      for (int i = 0; migrating || i < 600; ++i) {
        allowed += limiter.try_acquire(keys[static_cast<std::size_t>(i) % 3]).allowed ? 1 : 0;
        ++attempts;
      }
      redirections += storage->statistics().redirections;
      EXPECT_EQ(storage->statistics().failures, 0U) << storage->client()->last_failure();
    });
  }
  // An asynchronous client too, a few calls in flight at a time.
  std::thread async_client{[&] {
    asio::io_context context;
    auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), client_options(cluster));
    AsyncLimiter<FixedWindow, std::string> limiter{context.get_executor(), "p", limit, storage};
    std::function<void(int)> next = [&](int i) {
      if (!migrating && i > 300) return;
      limiter.try_acquire(keys[static_cast<std::size_t>(i) % 3], 1,
                          [&, i](boost::system::error_code error, Decision d) {
                            EXPECT_FALSE(error) << error.message();
                            allowed += d.allowed ? 1 : 0;
                            ++attempts;
                            next(i + 4);
                          });
    };
    for (int i = 0; i < 4; ++i) next(i);
    context.run();
    redirections += storage->statistics().redirections;
    EXPECT_EQ(storage->statistics().failures, 0U) << storage->client()->last_failure();
  }};
  while (attempts < 100) std::this_thread::sleep_for(1ms);
  const int after = migrate(cluster, slot, migrating);
  migrating = false;
  for (auto& client : clients) client.join();
  async_client.join();
  EXPECT_NE(after, before);
  EXPECT_EQ(cluster.master_of(slot), after);
  EXPECT_GT(attempts.load(), 600);
  EXPECT_EQ(allowed.load(), 600) << "of " << attempts.load() << " attempts";  // exactly 200 on each key
  EXPECT_GT(redirections.load(), 0U);                                         // ASK during the move, MOVED after it
}

// Kills a master mid-run. Until its replica takes over, the fault policy
// decides (here fail-closed) and no call waits past its timeout; within 5 s
// of the promotion, decisions on its slots are Redis's again. Replication is
// asynchronous: what the master had admitted and not yet sent its replica is
// lost with it, and admitted again. The test measures that loss.
TEST(RedisClusterLive, AKilledMasterFailsOverAndDecisionsResume) {
  testing::RedisCluster cluster{1000};
  const RateLimit limit{1'000'000, 1h};
  redis::PreparedPolicy policy{redis::Options{}, "p", "fixed-window", std::vector{limit}};
  const std::string key = "failover";
  const int slot = redis::key_slot(policy.key(key));
  const int master = cluster.master_of(slot);
  const int replica = cluster.replica_of(master);
  ASSERT_GT(replica, 0);
  constexpr Duration timeout = 300ms;

  struct Call {
    Clock::time_point start, end;
    bool allowed = false;
    bool by_policy = false;  // decided by the fault policy, Redis out of reach
  };
  std::vector<Call> calls;
  std::atomic<bool> stop{false};
  std::atomic<int> admitted{0};
  auto storage = std::make_shared<RedisStorage<std::string>>(client_options(cluster, timeout));
  std::thread client{[&] {
    Limiter<FixedWindow, std::string> limiter{"p", limit, storage};
    while (!stop) {
      Call call;
      const auto closed_before = storage->statistics().failed_closed;
      call.start = Clock::now();
      call.allowed = limiter.try_acquire(key).allowed;
      call.end = Clock::now();
      call.by_policy = storage->statistics().failed_closed != closed_before;
      if (call.allowed) ++admitted;
      calls.push_back(call);
    }
  }};
  // The asynchronous client on the same slot, one call at a time.
  std::atomic<int> async_by_redis_after{0};
  std::atomic<bool> promoted_flag{false};
  Clock::duration async_longest{0};
  std::thread async_client{[&] {
    asio::io_context context;
    auto async_storage =
        std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), client_options(cluster, timeout));
    AsyncLimiter<FixedWindow, std::string> limiter{context.get_executor(), "p", limit, async_storage};
    std::function<void()> next = [&] {
      if (stop) return;
      const auto start = Clock::now();
      const auto closed_before = async_storage->statistics().failed_closed;
      limiter.try_acquire(key + "-async", 1, [&, start, closed_before](boost::system::error_code error, Decision) {
        EXPECT_FALSE(error) << error.message();
        async_longest = std::max(async_longest, Clock::now() - start);
        if (promoted_flag && async_storage->statistics().failed_closed == closed_before) ++async_by_redis_after;
        next();
      });
    };
    next();
    context.run();
  }};
  while (admitted < 2000) std::this_thread::sleep_for(1ms);
  const auto killed = Clock::now();
  cluster.kill(master);
  while (!cluster.is_master(replica) && Clock::now() - killed < 30s) std::this_thread::sleep_for(5ms);
  const auto promoted = Clock::now();
  promoted_flag = true;
  ASSERT_TRUE(cluster.is_master(replica)) << "the replica was not promoted";
  // Run until Redis decides again, and a while longer.
  while (Clock::now() - promoted < 10s && async_by_redis_after < 50) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(200ms);
  stop = true;
  client.join();
  async_client.join();

  // The fault policy decided meanwhile; no call waited past its timeout
  // (plus room for a busy machine's scheduling).
  EXPECT_GT(storage->statistics().failed_closed, 0U);
  Clock::duration longest{0};
  std::optional<Clock::time_point> resumed;
  for (const Call& call : calls) {
    longest = std::max(longest, call.end - call.start);
    if (call.start > promoted && !call.by_policy && !resumed) resumed = call.end;
  }
  EXPECT_LT(longest, timeout + 700ms);
  EXPECT_LT(async_longest, timeout + 700ms);
  ASSERT_TRUE(resumed) << "no decision by Redis after the promotion";
  EXPECT_LT(*resumed - promoted, 5s);
  EXPECT_GE(async_by_redis_after.load(), 50);

  // What the promoted replica counted against what was admitted (every
  // admission was Redis's: the policy only denies): the writes lost with the
  // master, which a full limit would admit a second time.
  std::string count = cluster.on(replica, {"HGET", policy.key(key), "1.c"}).text;
  const int lost = admitted - (count.empty() ? 0 : std::stoi(count));
  std::printf(
      "[ failover ] promoted %lld ms after the kill; Redis decided again %lld ms after the promotion; "
      "%d of %d admitted decisions lost with the master (over-admission); longest call %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(promoted - killed).count()),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(*resumed - promoted).count()), lost,
      admitted.load(), static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(longest).count()));
  // A call whose reply was lost with a connection (the fault policy denied
  // it, Redis had counted it) makes the count one higher than the admitted.
  EXPECT_GE(lost, -2);
  EXPECT_LE(lost, 200);  // replication lag on loopback: a few writes at most
}

// A slot no master serves (CLUSTER DELSLOTS on its master): the node answers
// CLUSTERDOWN or the map has no owner; the client backs off and refreshes
// within the call's timeout, the fault policy decides, and once the slot is
// served again (ADDSLOTS) Redis decides again.
TEST(RedisClusterLive, AnUnservedSlotIsAFailureWithinTheTimeoutUntilItIsServedAgain) {
  testing::RedisCluster cluster;
  const RateLimit limit{1000, 1h};
  redis::PreparedPolicy policy{redis::Options{}, "p", "gcra", std::vector{limit}};
  const std::string key = "unserved";
  const int slot = redis::key_slot(policy.key(key));
  const int master = cluster.master_of(slot);
  constexpr Duration timeout = 300ms;
  auto storage = std::make_shared<RedisStorage<std::string>>(client_options(cluster, timeout));
  asio::io_context context;
  auto async_storage =
      std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), client_options(cluster, timeout));
  Limiter<Gcra, std::string> limiter{"p", limit, storage};
  AsyncLimiter<Gcra, std::string> async_limiter{context.get_executor(), "p", limit, async_storage};
  auto async_once = [&] {
    Decision got;
    async_limiter.try_acquire(key, 1, [&](boost::system::error_code error, Decision d) {
      EXPECT_FALSE(error) << error.message();
      got = d;
    });
    context.run();
    context.restart();
    return got;
  };
  EXPECT_TRUE(limiter.try_acquire(key).allowed);
  EXPECT_TRUE(async_once().allowed);

  ASSERT_EQ(cluster.on(master, {"CLUSTER", "DELSLOTS", std::to_string(slot)}).text, "OK");
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    EXPECT_FALSE(limiter.try_acquire(key).allowed);  // fail-closed
    EXPECT_FALSE(async_once().allowed);
    EXPECT_LT(Clock::now() - start, 2 * timeout + 700ms);
  }
  EXPECT_GE(storage->statistics().failed_closed, 3U);
  EXPECT_GE(async_storage->statistics().failed_closed, 3U);
  EXPECT_NE(storage->client()->last_failure(), "");

  ASSERT_EQ(cluster.on(master, {"CLUSTER", "ADDSLOTS", std::to_string(slot)}).text, "OK");
  const auto served = Clock::now();
  auto closed = storage->statistics().failed_closed;
  auto async_closed = async_storage->statistics().failed_closed;
  bool sync_back = false, async_back = false;
  while ((!sync_back || !async_back) && Clock::now() - served < 10s) {
    if (!sync_back) {
      EXPECT_TRUE(limiter.try_acquire(key).allowed || storage->statistics().failed_closed != closed);
      sync_back = storage->statistics().failed_closed == closed;
      closed = storage->statistics().failed_closed;
    }
    if (!async_back) {
      (void)async_once();
      async_back = async_storage->statistics().failed_closed == async_closed;
      async_closed = async_storage->statistics().failed_closed;
    }
    if (!sync_back || !async_back) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(sync_back);
  EXPECT_TRUE(async_back);
}

}  // namespace
}  // namespace leaksnek
