// AsyncLeakyBucketLimiter: an AsyncLimiter deciding with the leaky bucket (meter); as a queue with acquire().
#pragma once

#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>

namespace leaksnek {

template <class Key>
using AsyncLeakyBucketLimiter = AsyncLimiter<LeakyBucket, Key>;

}  // namespace leaksnek
