// Time as leaksnek sees it: integer nanoseconds, never floating point.
#pragma once

#include <chrono>
#include <cstdint>

namespace leaksnek {

namespace detail {
// The tag of leaksnek's time line. Its epoch is arbitrary (boot for
// SteadyClock, whatever a test sets for ManualClock); only differences matter.
struct Timeline {};
}  // namespace detail

// A length of time, in nanoseconds.
using Duration = std::chrono::nanoseconds;

// A point in time, in nanoseconds since the clock's epoch. A distinct type
// from Duration, so a wait cannot be passed where a time is expected.
using Instant = std::chrono::time_point<detail::Timeline, Duration>;

namespace detail {
constexpr std::int64_t nanos(Instant instant) noexcept { return instant.time_since_epoch().count(); }
}  // namespace detail

}  // namespace leaksnek
