// GcraLimiter: a Limiter deciding with GCRA.
#pragma once

#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek {

template <class Key>
using GcraLimiter = Limiter<Gcra, Key>;

}  // namespace leaksnek
