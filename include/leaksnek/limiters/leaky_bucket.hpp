// LeakyBucketLimiter: a Limiter deciding with the leaky bucket (meter); as a queue with acquire().
#pragma once

#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek {

template <class Key>
using LeakyBucketLimiter = Limiter<LeakyBucket, Key>;

}  // namespace leaksnek
