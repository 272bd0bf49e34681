// Time as leaksnek sees it: integer nanoseconds, never floating point.
#pragma once

#include <chrono>

namespace leaksnek {

// Nanoseconds since a clock's epoch. The epoch is arbitrary (boot for
// SteadyClock, whatever a test sets for ManualClock); only differences matter.
using Instant = std::chrono::nanoseconds;

// A length of time, in nanoseconds.
using Duration = std::chrono::nanoseconds;

}  // namespace leaksnek
