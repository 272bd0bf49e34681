// AsyncSlidingLogLimiter: an AsyncLimiter deciding with the sliding log.
#pragma once

#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>

namespace leaksnek {

template <class Key>
using AsyncSlidingLogLimiter = AsyncLimiter<SlidingLog, Key>;

}  // namespace leaksnek
