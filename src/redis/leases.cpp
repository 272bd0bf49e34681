#include <algorithm>
#include <functional>

#include <leaksnek/detail/arithmetic.hpp>
#include <leaksnek/redis/leases.hpp>
#include <leaksnek/redis/session.hpp>

namespace leaksnek::redis {

namespace {

constexpr std::size_t shard_count = 16;

}  // namespace

void add_lease_counters(Statistics& statistics, const LeaseCounters& counters) {
  statistics.leases += counters.leases.load(std::memory_order_relaxed);
  statistics.leased += counters.leased.load(std::memory_order_relaxed);
  statistics.lease_spent += counters.spent.load(std::memory_order_relaxed);
  statistics.given_back += counters.given_back.load(std::memory_order_relaxed);
  statistics.lease_expired += counters.expired.load(std::memory_order_relaxed);
  statistics.denied_cached += counters.denied_cached.load(std::memory_order_relaxed);
}

namespace {

std::int64_t smallest_burst(std::span<const RateLimit> limits) {
  std::int64_t smallest = RateLimit::max_count;
  for (const RateLimit& limit : limits) smallest = std::min(smallest, limit.burst());
  return smallest;
}

}  // namespace

Leases::Leases(const LeaseOptions& options, std::string_view algorithm, std::span<const RateLimit> limits,
               LeaseCounters& counters)
    : options_{options},
      bucket_{algorithm == "gcra" || algorithm == "token-bucket" || algorithm == "leaky-bucket"},
      cap_{std::max<std::int64_t>(1, std::min(options.max, smallest_burst(limits) / 4))},
      ends_with_window_{algorithm == "fixed-window"},
      shard_cap_{std::max<std::size_t>(1, options.max_keys / shard_count)},
      counters_{counters},
      shards_(shard_count) {
  for (const RateLimit& limit : limits) rates_.emplace_back(limit.count(), limit.period().count());
}

std::int64_t Leases::returnable(const Entry& entry, Instant now) const {
  if (!bucket_) return entry.tokens;
  const detail::int128 elapsed = std::max<std::int64_t>(0, (now - entry.granted).count());
  std::int64_t refilled = 0;
  for (auto [count, period] : rates_) {
    const detail::int128 tokens = (elapsed * count + period - 1) / period;
    refilled = std::max<std::int64_t>(
        refilled, tokens > entry.granted_size ? entry.granted_size : static_cast<std::int64_t>(tokens));
  }
  return std::clamp<std::int64_t>(entry.granted_size - refilled, 0, entry.tokens);
}

void Leases::give_back_of(const std::string& key, Entry& entry, Instant now, std::vector<GiveBack>& give_back) {
  const std::int64_t back = returnable(entry, now);
  if (back > 0) give_back.push_back({key, back, entry.granted_at});
  if (entry.tokens > back) {
    counters_.expired.fetch_add(static_cast<std::uint64_t>(entry.tokens - back), std::memory_order_relaxed);
  }
  entry.tokens = 0;
}

Leases::Shard& Leases::shard_of(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % shard_count];
}

Leases::Plan Leases::plan(std::string_view key, std::int64_t cost) {
  Plan plan;
  const Instant now = options_.clock.now();
  plan.sent = now;
  Shard& shard = shard_of(key);
  std::lock_guard lock{shard.mutex};
  if (now >= shard.next_sweep) sweep(shard, now, plan.give_back);
  auto found = shard.map.find(key);
  if (found == shard.map.end()) {
    if (shard.map.size() >= shard_cap_) make_room(shard, now, plan.give_back);
    shard.map.emplace(std::string{key}, Entry{}).first->second.last_seen = now;
    return plan;  // direct: a key seen for the first time
  }
  Entry& entry = found->second;
  if (now < entry.denied_until && cost >= entry.denied_cost) {
    plan.kind = Plan::Kind::local;
    plan.decision = entry.denial;
    plan.decision.retry_after = std::max(Duration{1}, entry.denied_until - now);
    counters_.denied_cached.fetch_add(1, std::memory_order_relaxed);
    return plan;
  }
  const bool expired_unspent = entry.tokens > 0 && now >= entry.expires;
  if (expired_unspent) give_back_of(found->first, entry, now, plan.give_back);
  if (entry.tokens >= cost) {
    entry.tokens -= cost;
    entry.spent_since += cost;
    entry.last_seen = now;
    plan.kind = Plan::Kind::local;
    Decision& decision = plan.decision;
    decision.allowed = true;
    decision.limit = entry.limit;
    decision.remaining = entry.tokens;  // what this process can still spend: a lower bound
    decision.reset_after = std::max(Duration{0}, entry.reset_after - (now - entry.granted));
    counters_.spent.fetch_add(1, std::memory_order_relaxed);
    return plan;
  }
  const bool hot = now - entry.last_seen <= options_.ttl;
  entry.last_seen = now;
  if (!hot) return plan;  // direct: a key that went quiet
  // One lease per key at a time: while one is on its way, others go direct
  // (so a process never holds more than lease_max of a key). A call that
  // never answers blocks leasing for a lifetime at most.
  if (now < entry.leasing_until) return plan;
  // The size follows the key's rate here: doubled when the last lease went
  // within half its lifetime, halved when it expired unspent.
  if (entry.size == 0) {
    entry.size = 2;
  } else if (now - entry.granted < options_.ttl / 2) {
    entry.size *= 2;
  } else if (expired_unspent) {
    entry.size /= 2;
  }
  entry.size = std::clamp<std::int64_t>(entry.size, 1, cap_);
  // Tokens left, fewer than the cost, go back with their own grant's time
  // rather than join the new lease (which would stretch their lifetime and,
  // for a window, return them to the wrong window).
  if (entry.tokens > 0) give_back_of(found->first, entry, now, plan.give_back);
  entry.leasing_until = now + options_.ttl;
  plan.kind = Plan::Kind::lease;
  plan.want = std::max(entry.size, cost);
  return plan;
}

Decision Leases::record(std::string_view key, std::int64_t cost, const Plan& plan, const StorageOutcome& outcome) {
  Decision decision = outcome.reserved.decision;
  Shard& shard = shard_of(key);
  std::lock_guard lock{shard.mutex};
  auto found = shard.map.find(key);
  if (found == shard.map.end()) {
    // Swept or evicted during the call: a lease is kept all the same (its
    // tokens are taken on Redis), anything else is not worth a new entry.
    if (plan.kind != Plan::Kind::lease || !decision.allowed) return decision;
    found = shard.map.try_emplace(std::string{key}).first;
    found->second.last_seen = plan.sent;
  }
  Entry& entry = found->second;
  if (plan.kind == Plan::Kind::lease) entry.leasing_until = Instant{};
  if (!decision.allowed) {
    if (decision.retry_after > Duration{0} && decision.retry_after != Decision::never) {
      entry.denied_until = plan.sent + decision.retry_after;
      entry.denied_cost = cost;
      entry.denial = decision;
    }
    return decision;
  }
  entry.denied_until = Instant{};
  if (plan.kind != Plan::Kind::lease) return decision;
  const std::int64_t granted = std::max(cost, outcome.reserved.wait.count());
  counters_.leases.fetch_add(1, std::memory_order_relaxed);
  counters_.leased.fetch_add(static_cast<std::uint64_t>(granted), std::memory_order_relaxed);
  // plan() gave back what was left, and no other lease was in flight; were
  // one (a call slower than a lifetime), its rest is dropped, never merged.
  counters_.expired.fetch_add(static_cast<std::uint64_t>(entry.tokens), std::memory_order_relaxed);
  entry.tokens = granted - cost;
  entry.granted_size = granted;
  entry.spent_since = cost;
  entry.granted_at = outcome.reserved_at;
  entry.granted = plan.sent;
  entry.limit = decision.limit;
  entry.reset_after = decision.reset_after;
  entry.expires = plan.sent + lifetime(outcome.reserved_at);
  decision.remaining += entry.tokens;  // the shared remaining and this process's lease
  return decision;
}

Duration Leases::lifetime(std::int64_t granted_at) const {
  Duration lifetime = options_.ttl;
  if (!ends_with_window_) return lifetime;
  // A fixed window's lease ends with the first of its limits' windows to
  // end, as the server saw them when it answered (counted from before the
  // call: conservative).
  for (auto [count, period] : rates_) {
    const std::int64_t period_us = std::max<std::int64_t>(1, period / 1000);
    const std::int64_t left_us = period_us - std::max<std::int64_t>(0, granted_at) % period_us;
    lifetime = std::min(lifetime, Duration{std::chrono::microseconds{left_us}});
  }
  return lifetime;
}

std::vector<GiveBack> Leases::drain() {
  std::vector<GiveBack> all;
  const Instant now = options_.clock.now();
  for (Shard& shard : shards_) {
    std::lock_guard lock{shard.mutex};
    for (auto& [key, entry] : shard.map) {
      if (entry.tokens > 0) give_back_of(key, entry, now, all);
    }
  }
  return all;
}

// Keys gone quiet: an expired lease goes back (4 at most, the rest at the
// next sweep), a key idle for over a lifetime with nothing held is forgotten.
void Leases::sweep(Shard& shard, Instant now, std::vector<GiveBack>& give_back) {
  shard.next_sweep = now + options_.ttl;
  std::size_t returned = 0;
  for (auto it = shard.map.begin(); it != shard.map.end();) {
    Entry& entry = it->second;
    if (entry.tokens > 0 && now >= entry.expires && returned < 4) {
      give_back_of(it->first, entry, now, give_back);
      ++returned;
    }
    if (entry.tokens == 0 && now - entry.last_seen > options_.ttl && now >= entry.denied_until) {
      it = shard.map.erase(it);
    } else {
      ++it;
    }
  }
}

// At the cap: drop every key quiet for longer than a lease's lifetime, or
// failing that half the shard; an unspent lease among them goes back.
void Leases::make_room(Shard& shard, Instant now, std::vector<GiveBack>& give_back) {
  std::size_t dropped = 0;
  auto drop_if = [&](auto&& quiet) {
    for (auto it = shard.map.begin(); it != shard.map.end();) {
      if (!quiet(it->second)) {
        ++it;
        continue;
      }
      if (it->second.tokens > 0) give_back_of(it->first, it->second, now, give_back);
      it = shard.map.erase(it);
      ++dropped;
    }
  };
  drop_if([&](const Entry& entry) { return now - entry.last_seen > options_.ttl && now >= entry.denied_until; });
  if (dropped > 0) return;
  std::size_t left = shard.map.size() / 2;
  drop_if([&](const Entry&) {
    if (left == 0) return false;
    --left;
    return true;
  });
}

}  // namespace leaksnek::redis
