// AsyncGcraLimiter: an AsyncLimiter deciding with GCRA (the generic cell rate algorithm).
#pragma once

#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>

namespace leaksnek {

template <class Key>
using AsyncGcraLimiter = AsyncLimiter<Gcra, Key>;

}  // namespace leaksnek
