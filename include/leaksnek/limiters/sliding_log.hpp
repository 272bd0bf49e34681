// SlidingLogLimiter: a Limiter deciding with the sliding log.
#pragma once

#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek {

template <class Key>
using SlidingLogLimiter = Limiter<SlidingLog, Key>;

}  // namespace leaksnek
