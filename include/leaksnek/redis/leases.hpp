// Leases: a hot key's capacity taken from Redis in one call and spent here at
// memory speed. No I/O: the storages (sync and async) ask plan() what to do
// for a decision, call Redis when it says so, and tell record() the answer.
//
// A lease is a decision of cost L on the shared state ("lease" mode of the
// script: it takes min(L, what is there), down to the request's own cost),
// so the capacity is gone from Redis before it is spent here and is never
// spent twice: over a run, the fleet admits no more than the shared state
// granted. What is left unspent when a lease expires goes back (a cancel of
// that cost at the grant's time; exact for the bucket family).
//
// The bounds (see the README's Redis section):
//   - over-admission: none over a run; in any interval, at most the leases
//     outstanding at its start beyond what the limit allows in it, and at
//     most rate * lease_ttl more (a lease of a fixed window ends with its
//     window, so a window never admits more than its count);
//   - under-admission: at most lease_max unspent per process per key at any
//     moment, and a crashed process strands at most its lease until the
//     shared state refills it (buckets) or its window ends.
// A bucket's unspent tokens go back only while their capacity has not come
// back by refill since the grant (later, a cancel would credit them twice);
// one lease per key is in flight at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/values/clock.hpp>
#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/rate_limit.hpp>

namespace leaksnek::redis {

struct LeaseOptions {
  bool enabled = false;
  // The most tokens one lease takes (also at most a quarter of the smallest
  // burst of the policy, so that one process never holds a whole limit).
  std::int64_t max = 1000;
  // How long a lease lasts; what is unspent then goes back to Redis.
  Duration ttl = std::chrono::milliseconds{100};
  // Keys tracked (leases and cached denials) per policy, at most.
  std::size_t max_keys = 100'000;
  // The clock that times leases and cached denials (Redis keeps its own).
  ClockRef clock;
};

// Counters over every policy of a storage.
struct LeaseCounters {
  std::atomic<std::uint64_t> leases{0};         // leases taken from Redis
  std::atomic<std::uint64_t> leased{0};         // tokens they took
  std::atomic<std::uint64_t> spent{0};          // decisions allowed from a lease without a call
  std::atomic<std::uint64_t> given_back{0};     // tokens returned unspent
  std::atomic<std::uint64_t> expired{0};        // tokens unspent not returned (refilled, failed)
  std::atomic<std::uint64_t> denied_cached{0};  // decisions denied from a cached denial without a call
};

// Adds `counters` to the lease fields of `statistics`.
struct Statistics;
void add_lease_counters(Statistics& statistics, const LeaseCounters& counters);

// A lease to return: `tokens` unspent of one granted at `granted_at` (the
// server's time, for the cancel).
struct GiveBack {
  std::string key;
  std::int64_t tokens = 0;
  std::int64_t granted_at = 0;
};

// One policy's leases. Thread-safe: 16 shards, each under a mutex held only
// for a few map operations (never across a call to Redis).
class Leases {
 public:
  // The leases of a policy of `algorithm` with `limits`: at most a quarter of
  // the smallest burst each, ending with their window for a fixed window.
  Leases(const LeaseOptions& options, std::string_view algorithm, std::span<const RateLimit> limits,
         LeaseCounters& counters);
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  struct Plan {
    enum class Kind { local, direct, lease } kind = Kind::direct;
    Decision decision;                // local: the decision, made here
    std::int64_t want = 0;            // lease: the most to take
    Instant sent{};                   // direct and lease: the time to pass to record()
    std::vector<GiveBack> give_back;  // to return first (expired, evicted)
  };
  // What to do for a decision of `cost` on `key` now. A key seen for the
  // first time, or again after more than a lease's lifetime, goes to Redis
  // directly (a cold key pays nothing for leases); a key seen again within it
  // leases. Once per lifetime a shard is swept: expired leases of keys gone
  // quiet go back (at most 4 a sweep, returned in give_back), idle keys are
  // forgotten. O(1) but for a sweep or an eviction at the cap (O(shard)).
  Plan plan(std::string_view key, std::int64_t cost);
  // The storage's answer to plan()'s direct call or lease: the decision to
  // return. A denial is cached until its retry_after.
  Decision record(std::string_view key, std::int64_t cost, const Plan& plan, const StorageOutcome& outcome);
  // Every unspent lease, emptied (for shutdown).
  std::vector<GiveBack> drain();

 private:
  struct Entry {
    std::int64_t tokens = 0;  // unspent
    Instant expires{};        // of the lease
    std::int64_t granted_at = 0;
    Instant granted{};
    std::int64_t limit = 0;
    Duration reset_after{0};
    Instant last_seen{};
    std::int64_t size = 0;          // the next lease's size
    std::int64_t granted_size = 0;  // the latest lease's size, for what may go back
    std::int64_t spent_since = 0;   // of the current lease
    Instant leasing_until{};        // a lease is on its way until then
    Instant denied_until{};
    std::int64_t denied_cost = 0;
    Decision denial;
  };
  // Looked up by the key's bytes without making a string of them.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> map;
    Instant next_sweep{};
  };
  Shard& shard_of(std::string_view key);
  void make_room(Shard& shard, Instant now, std::vector<GiveBack>& give_back);
  void sweep(Shard& shard, Instant now, std::vector<GiveBack>& give_back);
  // What of `entry`'s unspent tokens may go back at `now`: all of them for a
  // window or a log; for a bucket only those whose capacity has not come
  // back by refill since the grant (a cancel of more would credit twice).
  [[nodiscard]] std::int64_t returnable(const Entry& entry, Instant now) const;
  // How long a lease granted at `granted_at` (the server's time, us) lasts.
  [[nodiscard]] Duration lifetime(std::int64_t granted_at) const;
  void give_back_of(const std::string& key, Entry& entry, Instant now, std::vector<GiveBack>& give_back);

  LeaseOptions options_;
  bool bucket_;
  std::vector<std::pair<std::int64_t, std::int64_t>> rates_;  // count, period ns
  std::int64_t cap_;
  bool ends_with_window_;
  std::size_t shard_cap_;
  LeaseCounters& counters_;
  std::vector<Shard> shards_;
};

}  // namespace leaksnek::redis
