// The hash the in-memory storage and mutex use for a Key.
#pragma once

#include <functional>
#include <type_traits>

#include <boost/container_hash/hash.hpp>

namespace leaksnek {

namespace detail {
// std::hash where the standard has one (its string hash reads 8 bytes a step),
// boost::hash for the rest (pairs, tuples, user types with hash_value).
template <class Key>
using DefaultHash =
    std::conditional_t<std::is_default_constructible_v<std::hash<Key>>, std::hash<Key>, boost::hash<Key>>;
}  // namespace detail

}  // namespace leaksnek
