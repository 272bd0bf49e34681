// The outcome of one rate limiting decision: everything an HTTP 429 and the
// RateLimit headers need.
#pragma once

#include <cstdint>

#include <leaksnek/values/time.hpp>

namespace leaksnek {

struct Decision {
  // retry_after of a request that can never be allowed (its cost exceeds the
  // capacity): waiting does not help.
  static constexpr Duration never = Duration::max();

  // Whether the request was allowed (and its cost consumed).
  bool allowed = false;
  // The capacity the decision was made against: the burst for the bucket
  // family, the count per period for the window algorithms.
  std::int64_t limit = 0;
  // What the key could still take right after this decision, in whole units.
  std::int64_t remaining = 0;
  // Zero when allowed; `never` when the cost exceeds the capacity; otherwise
  // the shortest wait (rounded up to a nanosecond) after which this same
  // request would be allowed if no other request came.
  Duration retry_after{0};
  // The wait until the key is back to full capacity, as if never seen.
  Duration reset_after{0};

  // True when waiting cannot help: the cost exceeds the capacity.
  [[nodiscard]] constexpr bool never_allowed() const noexcept { return !allowed && retry_after == never; }

  friend constexpr bool operator==(const Decision&, const Decision&) = default;
};

}  // namespace leaksnek
