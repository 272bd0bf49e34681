// MemoryStorage: keyed state in this process, the fast path. It is the seed's
// RateStorage and also decides atomically by itself, so a limiter over it
// takes one step per decision and needs no KeyMutex.
//
// Layout: per policy (name, algorithm, state_tag()), a table of S shards (64
// by default), each a boost::unordered_flat_map. A decision on a key already
// present hashes the key once, finds its slot under a read of the shard that
// writes nothing shared (detail::ReadMostly) and runs the algorithm's pure
// step on the slot alone: a state of two words (GCRA, the fixed window) with
// one 16-byte compare-and-swap, any other under the slot's own lock. No
// allocation, and no cache line written but the key's own and the thread's,
// so threads on different keys scale with cores, and threads on one key
// share only that key's line. A new key, a sweep or an eviction takes its
// shard exclusively.
//
// Memory stays bounded. A key whose state is back to "as if never seen" (a
// full bucket, an expired window) and that has not been used since the last
// sweep is dropped when its shard fills up, which changes no decision; below
// the cap a shard sweeps at most once a second (Options::sweep_interval) and
// grows in between. With Options::max_keys, a shard at its share of the cap
// first drops every fresh key, then evicts its least recently used keys (the
// one lossy case: an evicted key starts over with a full allowance), counted
// in Statistics::evicted. A GCRA key with a std::string key takes a 64-byte
// entry (16 bytes of state, an 8-byte word holding the key's lock and
// recency stamp, the 32-byte string object, 8 bytes to align the entry on a
// cache line) plus 1 byte of map metadata, at a load factor between 0.44 and
// 0.875, plus the key's heap bytes if it is too long for the string's inline
// buffer (15 bytes).
#pragma once

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

// Readers find() concurrently: the map must not write statistics on a lookup.
#if defined(BOOST_UNORDERED_ENABLE_STATS)
#error \
    "leaksnek's MemoryStorage reads its maps from several threads at once; build without BOOST_UNORDERED_ENABLE_STATS"
#endif

#include <leaksnek/detail/cas16.hpp>
#include <leaksnek/detail/hash.hpp>
#include <leaksnek/detail/read_mostly.hpp>
#include <leaksnek/interfaces/storages/rate_storage.hpp>
#include <leaksnek/values/rate_limit.hpp>

namespace leaksnek {

// Keys are hashed with std::hash<Key> where the standard library has one,
// otherwise boost::hash<Key> (give your type a hash_value overload).
template <class Key>
class MemoryStorage final : public RateStorage<Key> {
 public:
  struct Options {
    // Cap on tracked keys per policy (0: no cap). Enforced per shard, at
    // max_keys / shards each; when a shard is full it frees a sixteenth of
    // its share at once, so the cap costs O(1) amortised per new key.
    std::size_t max_keys = 0;
    // Number of shards, rounded up to a power of two.
    std::size_t shards = 64;
    // Below the cap, a full shard drops fresh keys at most once per this
    // much of the decisions' time, and grows in between, so that keys used
    // again within it are never dropped and inserted again (which takes the
    // shard exclusively). The cost: up to this long's worth of new keys
    // beyond those in use, unless max_keys caps them. Zero: sweep whenever
    // full. A clock that stands still (a ManualClock) never passes it.
    Duration sweep_interval = std::chrono::seconds{1};
  };

  struct Statistics {
    std::size_t keys = 0;         // tracked now, over all policies
    std::uint64_t evicted = 0;    // dropped by the max_keys cap while not fresh (lossy)
    std::uint64_t forgotten = 0;  // dropped because fresh again (lossless)
  };

  MemoryStorage() : MemoryStorage{Options{}} {}
  explicit MemoryStorage(Options options) : options_{options} {
    std::size_t shards = 1;
    while (shards < std::max<std::size_t>(options_.shards, 1)) shards *= 2;
    options_.shards = shards;
  }

  // Limiters bind to the tables below.
  void accept(StorageBinder<Key>& binder) override { binder.bind(*this); }

  // The seed's read / write, for code that drives a RateStorage by hand.
  // Limiters over a MemoryStorage do not use them: they take the one-step
  // path below. Thread-safe (one mutex).
  [[nodiscard]] Rate read(const Key& key) override {
    std::lock_guard lock{rates_mutex_};
    auto found = rates_.find(key);
    return found == rates_.end() ? Rate{} : found->second;
  }
  void write(const Key& key, const Rate& rate, Duration expires_after) override {
    std::lock_guard lock{rates_mutex_};
    if (rate.empty() || expires_after <= Duration{0}) {
      rates_.erase(key);
    } else {
      rates_.insert_or_assign(key, rate);
    }
  }

  // Counts over every policy's table. Thread-safe; locks each shard in turn.
  [[nodiscard]] Statistics statistics() const {
    Statistics total;
    std::lock_guard lock{tables_mutex_};
    for (const auto& entry : tables_) entry.table->add_to(total);
    return total;
  }

  // The typed states of one policy: its keys' states, read and written by
  // the policy that acts on them.
  template <class Policy>
  class Table;

  // The table of the policy named `name` (algorithm `Policy`), whose state
  // is measured as `tag` says (state_tag()), created on first use; limiters
  // call this once, at construction. Limiters with one name share its table
  // when their tags agree, so a changed limit keeps every key's state where
  // it still means the same; different names never share state, and no state
  // is read by another algorithm or in other units than it was written in.
  // Thread-safe; a linear scan of the tables under a mutex. The table lives
  // as long as the storage (a table left by a changed limit keeps its keys,
  // each up to max_keys, until they are fresh again and swept).
  template <class Policy>
  Table<Policy>& table(std::string_view name, std::string_view tag) {
    std::lock_guard lock{tables_mutex_};
    for (auto& entry : tables_) {
      if (entry.name == name && entry.type == std::type_index{typeid(Policy)} && entry.tag == tag) {
        return static_cast<Table<Policy>&>(*entry.table);
      }
    }
    auto table = std::make_unique<Table<Policy>>(options_);
    Table<Policy>& result = *table;
    tables_.push_back({std::string{name}, std::type_index{typeid(Policy)}, std::string{tag}, std::move(table)});
    return result;
  }

 private:
  class TableBase {
   public:
    virtual ~TableBase() = default;
    virtual void add_to(Statistics& total) const = 0;
  };

  struct TableEntry {
    std::string name;
    std::type_index type;
    std::string tag;
    std::unique_ptr<TableBase> table;
  };

  Options options_;
  mutable std::mutex tables_mutex_;
  std::vector<TableEntry> tables_;
  std::mutex rates_mutex_;
  boost::unordered_flat_map<Key, Rate, detail::DefaultHash<Key>> rates_;
};

template <class Key>
template <class Policy>
class MemoryStorage<Key>::Table final : public TableBase {
 public:
  using State = typename Policy::State;
  using Hash = detail::DefaultHash<Key>;
  using KeyEqual = detail::KeyEqual<Key>;

  // Whether a key already present is decided without a lock: a state of two
  // words (GCRA's, the fixed window's) on x86-64, swapped in by one 16-byte
  // compare-and-swap. Otherwise the key's own lock is held for the step.
  static constexpr bool lock_free = detail::has_cas16 && std::is_trivially_copyable_v<State> &&
                                    sizeof(State) == sizeof(detail::Words) &&
                                    std::has_unique_object_representations_v<State>;

  explicit Table(const Options& options)
      : shards_(options.shards),
        shard_bits_{std::countr_zero(options.shards)},
        sweep_interval_{options.sweep_interval} {
    if (options.max_keys > 0) shard_cap_ = std::max<std::size_t>(1, options.max_keys / options.shards);
  }

  // Runs `step(State&, Instant now)` on `key`'s state atomically and returns
  // its result. A key already present is found under a read of its shard
  // (detail::ReadMostly: no shared line is written) and stepped under its own
  // lock, whose word also holds its recency stamp, or for a state of two words
  // on a copy stored by one compare-and-swap: then `step` may run more than
  // once, each time on a fresh copy, and must have no effect but on the state
  // it is given and on what it returns. A new key takes the shard
  // exclusively. On both paths `now` is raised to the latest time the shard
  // has seen on the exclusive path (written there only, so readers only read
  // it), so that a key dropped as fresh stays fresh for every later step and
  // a decision does not depend on which path took it. A new key starts from
  // a fresh state and is kept only if the step left it not fresh by `policy`,
  // the one acting. Thread-safe: `step` must not block nor use any
  // MemoryStorage (a thread reads one shard at a time); a new key may first
  // sweep or evict in its shard (O(shard), which allocates).
  //
  // `finish(result)`, when given, turns the step's result into what apply()
  // returns, after the step is committed and outside any lock: the costly
  // half of a decision (GCRA's divisions) then never runs while another core
  // waits for the key.
  template <class Step>
  auto apply(const Key& key, Instant now, const Policy& policy, Step&& step) {
    return apply(key, now, policy, std::forward<Step>(step), [](auto&& result) { return result; });
  }
  template <class Step, class Finish>
  auto apply(const Key& key, Instant now, const Policy& policy, Step&& step, Finish&& finish) {
    const std::size_t hash = Hash{}(key);
    Shard& shard = shards_[shard_of(hash)];
    detail::ReaderRecord& reader = detail::this_thread_reader();
    if (shard.access.try_read(reader)) [[likely]] {
      detail::ReadGuard reading{reader};
      auto found = shard.map.find(Lookup{hash, &key});
      if (found != shard.map.end()) [[likely]] {
        now = std::max(now, shard.latest);  // as on the exclusive path: one answer whichever path decides
        return finish(found->update([&](State& state) { return step(state, now); }, shard.clock));
      }
    }
    std::lock_guard exclusive{shard.access};
    now = std::max(now, shard.latest);
    shard.latest = now;
    auto found = shard.map.find(Lookup{hash, &key});
    if (found != shard.map.end()) {
      return finish(found->update_alone([&](State& state) { return step(state, now); }, shard.clock));
    }
    State state{};
    auto result = step(state, now);
    if (!policy.is_fresh(state, now)) {
      make_room(shard, now, policy);
      shard.map.emplace(key, std::move(state), ++shard.clock);
    }
    return finish(std::move(result));
  }

  // The seed's read and write on a table: `key`'s state now (nullopt when it
  // has none: never seen, or dropped once fresh), and replacing it (nullopt
  // forgets the key; a new key may first sweep or evict in its shard, as on
  // a decision). Each takes the key's shard exclusively: for inspecting and
  // seeding state, not for deciding. Thread-safe.
  [[nodiscard]] std::optional<State> peek(const Key& key) const {
    const std::size_t hash = Hash{}(key);
    const Shard& shard = shards_[shard_of(hash)];
    std::lock_guard exclusive{shard.access};
    auto found = shard.map.find(Lookup{hash, &key});
    if (found == shard.map.end()) return std::nullopt;
    return State{found->state()};
  }
  void put(const Key& key, std::optional<State> state, Instant now, const Policy& policy) {
    const std::size_t hash = Hash{}(key);
    Shard& shard = shards_[shard_of(hash)];
    std::lock_guard exclusive{shard.access};
    now = std::max(now, shard.latest);
    shard.latest = now;
    auto found = shard.map.find(Lookup{hash, &key});
    if (!state) {
      if (found != shard.map.end()) shard.map.erase(found);
      return;
    }
    if (found != shard.map.end()) {
      found->update_alone(
          [&](State& stored) {
            stored = std::move(*state);
            return 0;
          },
          shard.clock);  // used now (the clock counts new keys only)
      return;
    }
    make_room(shard, now, policy);
    shard.map.emplace(key, std::move(*state), ++shard.clock);
  }

  void add_to(Statistics& total) const override {
    for (const Shard& shard : shards_) {
      std::lock_guard lock{shard.access};
      total.keys += shard.map.size();
      total.evicted += shard.evicted;
      total.forgotten += shard.forgotten;
    }
  }

 private:
  // A lookup carries the key's hash, computed once for both the shard and the
  // map; the map hashes a stored key again only when it grows.
  struct Lookup {
    std::size_t hash;
    const Key* key;
  };
  // A key, its state and its lock, whose word also holds the key's stamp:
  // the shard's count of new keys when the key was last used, recency for
  // the cap without a shared counter written on every decision. update()
  // runs concurrently under a read of the shard; the rest only under
  // exclusive access. The key is never changed in place; the state and the
  // lock are (mutable: a set's elements are const).
  //
  // A state of two words without padding (GCRA's, the fixed window's) is
  // not locked: update() runs the step on a copy and stores the result with
  // one 16-byte compare-and-swap, again on a fresh copy if another core came
  // first, so that a key decided from many cores moves its line once per
  // decision and no core waits on another's step. The lock word then holds
  // only the stamp, written when it changes (with new keys in the shard).
  using Cell = std::conditional_t<lock_free, detail::Words, State>;
  class Entry;
  struct Packed {
    Cell cell;
    detail::StampedLock lock;
    Key key;
  };
  // Entries are aligned to their size rounded up to a power of two, up to a
  // cache line: an entry never straddles two lines, and an entry of 33 to 64
  // bytes (a std::string key's, whatever the algorithm but the token
  // bucket's) has its line to itself, so that a thread deciding on it pulls
  // no other key's line away from another core. A GCRA entry with a
  // std::string key takes 64 bytes.
  static constexpr std::size_t entry_alignment =
      std::bit_ceil(sizeof(Packed)) <= 64 ? std::bit_ceil(sizeof(Packed)) : alignof(Packed);

  class alignas(entry_alignment) Entry {
   public:
    Entry(const Key& key, State state, std::uint64_t stamp) : cell_{to_cell(state)}, key_{key} {
      lock_.set_stamp(stamp);
    }
    [[nodiscard]] const Key& key() const noexcept { return key_; }
    // Under a read of the shard: the step may run more than once (lock-free
    // states), each time on a fresh copy; the last run's state is kept.
    template <class Step>
    auto update(Step&& step, std::uint64_t stamp) const {
      if constexpr (lock_free) {
        detail::Words expected = detail::load_words(cell_);
        for (;;) {
          auto state = std::bit_cast<State>(expected);
          auto result = step(state);
          if (detail::cas16(cell_, expected, std::bit_cast<detail::Words>(state))) {
            lock_.touch(stamp);
            return result;
          }
        }
      } else {
        lock_.lock();
        Unlock unlock{lock_, stamp};
        return step(cell_);
      }
    }
    template <class Step>
    auto update_alone(Step&& step, std::uint64_t stamp) const {
      lock_.set_stamp(stamp);
      if constexpr (lock_free) {
        auto state = std::bit_cast<State>(cell_);
        auto result = step(state);
        cell_ = std::bit_cast<detail::Words>(state);
        return result;
      } else {
        return step(cell_);
      }
    }
    // Under exclusive access.
    [[nodiscard]] decltype(auto) state() const noexcept {
      if constexpr (lock_free) {
        return std::bit_cast<State>(cell_);
      } else {
        return static_cast<const State&>(cell_);
      }
    }
    [[nodiscard]] std::uint64_t age(std::uint64_t clock) const noexcept { return clock - lock_.stamp(); }

   private:
    static Cell to_cell(State& state) {
      if constexpr (lock_free) {
        return std::bit_cast<detail::Words>(state);
      } else {
        return std::move(state);
      }
    }
    // Unlocks at scope exit (the step may throw), leaving the stamp.
    struct Unlock {
      detail::StampedLock& lock;
      std::uint64_t stamp;
      Unlock(detail::StampedLock& to_unlock, std::uint64_t with_stamp) : lock{to_unlock}, stamp{with_stamp} {}
      Unlock(const Unlock&) = delete;
      Unlock& operator=(const Unlock&) = delete;
      ~Unlock() { lock.unlock(stamp); }
    };
    mutable Cell cell_;
    mutable detail::StampedLock lock_;
    Key key_;
  };
  struct EntryHash {
    using is_transparent = void;
    std::size_t operator()(const Entry& entry) const { return Hash{}(entry.key()); }
    std::size_t operator()(const Lookup& lookup) const noexcept { return lookup.hash; }
  };
  struct EntryEq {
    using is_transparent = void;
    bool operator()(const Entry& a, const Entry& b) const { return KeyEqual{}(a.key(), b.key()); }
    bool operator()(const Lookup& a, const Entry& b) const { return KeyEqual{}(*a.key, b.key()); }
    bool operator()(const Entry& a, const Lookup& b) const { return KeyEqual{}(a.key(), *b.key); }
  };
  struct alignas(64) Shard {
    // Read by every decision, written only by the exclusive path: the lines
    // below stay shared between cores while keys are only looked up.
    mutable detail::ReadMostly access;
    boost::unordered_flat_set<Entry, EntryHash, EntryEq> map;
    std::uint64_t clock = 0;  // new keys so far
    Instant latest{Duration::min()};
    std::uint64_t last_sweep = 0;  // clock at the last sweep
    bool swept = false;
    Instant swept_at{};  // the time of the last sweep, when swept
    std::uint64_t evicted = 0;
    std::uint64_t forgotten = 0;
  };

  // Room for twice the shard's keys, within its share of the cap.
  void grow(Shard& shard) {
    const std::size_t room = 2 * shard.map.size() + 1;
    shard.map.reserve(shard_cap_ > 0 ? std::min(room, shard_cap_) : room);
  }

  // The key's hash mixed with this table's random seed: std::hash is not
  // seeded, so a client who can compute it could otherwise aim keys at one
  // shard and evict a victim key with a shard's share of the cap instead of
  // the whole cap. One xor and one multiply, as unseeded: a full mixer
  // (splitmix64's two) measured 3% off 10,000 keys' decisions.
  [[nodiscard]] std::size_t shard_of(std::size_t hash) const noexcept {
    if (shard_bits_ == 0) return 0;
    const std::uint64_t x = (static_cast<std::uint64_t>(hash) ^ shard_seed_) * 0x9E3779B97F4A7C15ULL;
    return static_cast<std::size_t>(x >> (64 - shard_bits_));
  }
  static std::uint64_t random_seed() noexcept {
    std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&seed));
    try {
      std::random_device device;
      seed ^= (static_cast<std::uint64_t>(device()) << 32) ^ device();
    } catch (...) {  // no entropy source: the clock and the stack's address (ASLR) alone
    }
    return seed;
  }

  // Before a shard takes a new key: when the shard is full (at its share of
  // the cap, or at the load where its map would grow), drop fresh keys; at
  // the cap evict the least recently used.
  void make_room(Shard& shard, Instant now, const Policy& policy) {
    const bool at_cap = shard_cap_ > 0 && shard.map.size() >= shard_cap_;
    if (!at_cap && shard.map.size() < shard.map.max_load()) return;
    // Below the cap a shard sweeps at most once per Options::sweep_interval of the
    // decisions' time, and grows when full in between: keys that come back
    // within that time (a working set larger than the shard, cycled faster
    // than that) are never dropped only to be inserted again, each insert
    // taking the shard exclusively and stalling its readers on every core.
    if (!at_cap && shard.swept && now - shard.swept_at < sweep_interval_) {
      grow(shard);
      return;
    }
    // A sweep drops a fresh key only if it was not used since the previous
    // sweep: a key in use that is fresh between its uses (a fast refill)
    // stays, while an idle key goes within two sweeps. When that frees less
    // than a quarter of the map, it grows instead.
    const std::uint64_t idle_after = shard.clock - shard.last_sweep;
    shard.forgotten += boost::unordered::erase_if(shard.map, [&](const auto& entry) {
      return (at_cap || entry.age(shard.clock) > idle_after) && policy.is_fresh(entry.state(), now);
    });
    shard.last_sweep = shard.clock;
    shard.swept = true;
    shard.swept_at = now;
    if (!at_cap) {
      if (shard.map.size() >= shard.map.max_load() / 4 * 3) grow(shard);
      return;
    }
    // Evict down to 15/16 of the share, oldest first, so that the next scan
    // is at least a sixteenth of the share away.
    const std::size_t keep = shard_cap_ - std::max<std::size_t>(1, shard_cap_ / 16);
    if (shard.map.size() <= keep) return;
    std::vector<std::uint64_t> ages;
    ages.reserve(shard.map.size());
    for (const auto& entry : shard.map) ages.push_back(entry.age(shard.clock));
    const std::size_t evict = shard.map.size() - keep;
    std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(evict - 1), ages.end(), std::greater<>{});
    // Every key older than the cut goes, then as many at the cut as are still
    // needed (stamps move only with new keys, so ages often tie).
    const std::uint64_t min_age = ages[evict - 1];
    std::size_t ties = evict - static_cast<std::size_t>(std::count_if(
                                   ages.begin(), ages.end(), [&](std::uint64_t age) { return age > min_age; }));
    shard.evicted += boost::unordered::erase_if(shard.map, [&](const auto& entry) {
      const std::uint64_t age = entry.age(shard.clock);
      if (age > min_age) return true;
      if (age < min_age || ties == 0) return false;
      --ties;
      return true;
    });
  }

  std::vector<Shard> shards_;
  int shard_bits_;
  std::uint64_t shard_seed_ = random_seed();
  Duration sweep_interval_;
  std::size_t shard_cap_ = 0;
};

}  // namespace leaksnek
