// Sliding log: the exact sliding window, keeping every allowed request of the
// last period. The one algorithm whose state grows with its limit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/detail/arithmetic.hpp>

namespace leaksnek {

// Allows a request at t iff the cost allowed in (t - P, t] plus its cost is at
// most limit.count(). Exact, at a memory cost of up to count entries (16 bytes
// each) per busy key; requests at the same instant share an entry. Thread-safe.
class SlidingLog {
 public:
  static constexpr std::string_view name = "sliding-log";
  // Entries are times: any count keeps them, but a log pruned by a shorter
  // period would under-count a longer one.
  static constexpr StateUnits state_units = StateUnits::period;

  struct Entry {
    std::int64_t time;  // ns
    std::int64_t cost;
  };

  // Allowed requests, oldest first, in a ring buffer that only grows (to at
  // most count entries), so a busy key stops allocating once warm.
  class State {
   public:
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::int64_t total() const noexcept { return total_; }
    [[nodiscard]] const Entry& operator[](std::size_t i) const noexcept { return ring_[(head_ + i) % ring_.size()]; }
    [[nodiscard]] const Entry& back() const noexcept { return (*this)[size_ - 1]; }

   private:
    friend class SlidingLog;

    Entry& at(std::size_t i) noexcept { return ring_[(head_ + i) % ring_.size()]; }

    void pop_front() noexcept {
      total_ -= ring_[head_].cost;
      head_ = (head_ + 1) % ring_.size();
      --size_;
    }

    void push_back(Entry entry) {
      if (size_ > 0 && back().time == entry.time) {
        at(size_ - 1).cost += entry.cost;
      } else {
        if (size_ == ring_.size()) grow();  // may throw: nothing changed yet
        ring_[(head_ + size_) % ring_.size()] = entry;
        ++size_;
      }
      total_ += entry.cost;
    }

    // Uncounts `cost` from the entry at `time`, which stays (with cost 0 if
    // nothing is left) as a mark of time.
    void take_at(std::int64_t time, std::int64_t cost) noexcept {
      for (std::size_t i = size_; i-- > 0;) {
        Entry& entry = at(i);
        if (entry.time != time) continue;
        std::int64_t taken = std::min(cost, entry.cost);
        entry.cost -= taken;
        total_ -= taken;
        return;
      }
    }

    // Undoes the last push_back of `cost`.
    void take_back(std::int64_t cost) noexcept {
      Entry& last = at(size_ - 1);
      last.cost -= cost;
      total_ -= cost;
      if (last.cost == 0) --size_;
    }

    void grow() {
      std::vector<Entry> bigger;
      bigger.reserve(std::max<std::size_t>(4, ring_.size() * 2));
      for (std::size_t i = 0; i < size_; ++i) bigger.push_back((*this)[i]);
      bigger.resize(bigger.capacity());
      ring_ = std::move(bigger);
      head_ = 0;
    }

    std::vector<Entry> ring_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
    std::int64_t total_ = 0;
  };

  explicit SlidingLog(const RateLimit& limit) : limit_{limit} {}

  [[nodiscard]] const RateLimit& limit() const noexcept { return limit_; }

  // Decides `cost` units at `now`, forgetting entries older than the window.
  // Throws CostError if cost < 1. Amortised O(1); O(entries) to compute the
  // wait of a denial; allocates only when the log outgrows its buffer.
  // Thread-safe (state is the caller's).
  //
  // A log whose newest entry is later than `now` (a wait booked by acquire(),
  // or a clock that went back) makes the request queue behind that entry:
  // denied now, with the wait until it would fit after it.
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    detail::check_cost(cost);
    if (state.empty() || state.back().time <= detail::nanos(now)) return decide_at(state, now, cost, true);
    const Instant newest{Duration{state.back().time}};
    return detail::queued_behind(decide_at(state, newest, cost, false), newest - now);
  }

  // Gives back a booked request: its entry keeps its time (entries older than
  // the reservation may have been forgotten as of then, so requests before it
  // still queue) but no longer counts.
  void cancel(State& state, Instant at, std::int64_t cost) const noexcept { state.take_at(detail::nanos(at), cost); }

  // Takes back an allowed request of `cost` made by the last decide() on
  // `state`, for all-or-nothing multi-limits. Thread-safe (state is the caller's).
  void revert(State& state, std::int64_t cost) const noexcept { state.take_back(cost); }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const noexcept {
    return state.empty() || expired(state.back(), now);
  }

  void encode(const State& state, RateWriter& writer) const {
    writer.put(static_cast<std::int64_t>(state.size()));
    for (std::size_t i = 0; i < state.size(); ++i) {
      writer.put(state[i].time);
      writer.put(state[i].cost);
    }
  }
  [[nodiscard]] State decode(RateReader& reader) const {
    State state;
    auto entries = reader.take_in<std::int64_t>(0, limit_.count(), "entry count");
    for (std::int64_t i = 0; i < entries; ++i) {
      std::int64_t time = reader.take();
      auto cost = reader.take_in<std::int64_t>(0, limit_.count() - state.total(), "entry cost");
      if (!state.empty() && time <= state.back().time) throw StateError{"stored rate state has entries out of order"};
      state.push_back({time, cost});
    }
    return state;
  }

 private:
  // The decision at `now` >= every entry's time; `commit`: log it if allowed.
  [[nodiscard]] Decision decide_at(State& state, Instant now, std::int64_t cost, bool commit) const {
    using detail::int128;
    const std::int64_t period = limit_.period().count();
    while (!state.empty() && expired(state[0], now)) state.pop_front();

    Decision decision;
    decision.limit = limit_.count();
    if (cost <= limit_.count() && state.total() + cost <= limit_.count()) {
      if (commit) state.push_back({detail::nanos(now), cost});
      decision.allowed = true;
    } else if (cost > limit_.count()) {
      decision.retry_after = Decision::never;
    } else {
      const std::int64_t excess = state.total() + cost - limit_.count();
      std::int64_t freed = 0;
      for (std::size_t i = 0; i < state.size(); ++i) {
        freed += state[i].cost;
        if (freed >= excess) {
          decision.retry_after = Duration{detail::saturate(int128{state[i].time} + period - detail::nanos(now))};
          break;
        }
      }
    }
    // Never negative: a lowered count may find the log overspent.
    decision.remaining =
        std::max<std::int64_t>(0, limit_.count() - state.total() - (decision.allowed && !commit ? cost : 0));
    if (!state.empty()) {
      decision.reset_after = Duration{detail::saturate(int128{state.back().time} + period - detail::nanos(now))};
    }
    return decision;
  }

  // An entry at time ti leaves the window (t - P, t] once ti <= t - P.
  [[nodiscard]] bool expired(const Entry& entry, Instant now) const noexcept {
    return detail::int128{entry.time} + limit_.period().count() <= detail::nanos(now);
  }

  RateLimit limit_;
};

}  // namespace leaksnek
