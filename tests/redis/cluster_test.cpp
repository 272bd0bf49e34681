// Redis Cluster: the routing pieces with no server (key slots, the slot map,
// URLs), then a real 6-node cluster on loopback: exact limits on keys over
// every master, a slot migrated mid-run, a master killed mid-run.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
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
  EXPECT_EQ(map.masters()[0].password, "pw");  // credentials as given
  EXPECT_EQ(map.masters()[1].host, "10.0.0.9");  // an empty host: the node that answered
  EXPECT_EQ(*map.owner(0), 0U);
  EXPECT_EQ(*map.owner(5461), 1U);
  EXPECT_EQ(*map.owner(16000), 0U);
  EXPECT_FALSE(map.owner(16001));
  EXPECT_EQ(map.unserved(), 383);
  EXPECT_THROW((void)redis::SlotMap::parse(array({array({integer(0), integer(16384), array({text("h"), integer(1)})})}), asked),
               StorageError);
  EXPECT_THROW((void)redis::SlotMap::parse(text("x"), asked), StorageError);
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
    return by_master.size() == 3 && std::all_of(by_master.begin(), by_master.end(),
                                                [](const auto& entry) { return entry.second.size() == 2; });
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

}  // namespace
}  // namespace leaksnek
