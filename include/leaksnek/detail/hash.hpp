// The hash the in-memory storage and mutex use for a Key.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#include <boost/container_hash/hash.hpp>

namespace leaksnek {

namespace detail {
// std::hash where the standard has one (its string hash reads 8 bytes a step),
// boost::hash for the rest (pairs, tuples, user types with hash_value).
template <class Key>
using DefaultHash =
    std::conditional_t<std::is_default_constructible_v<std::hash<Key>>, std::hash<Key>, boost::hash<Key>>;

// std::equal_to, but for strings of up to 16 bytes compares two 8-byte words
// inline instead of calling memcmp: a decision compares the key once, and the
// call measured 10% of an in-memory decision.
template <class Key>
struct KeyEqual : std::equal_to<Key> {};

template <>
struct KeyEqual<std::string> {
  bool operator()(const std::string& a, const std::string& b) const noexcept {
    const std::size_t size = a.size();
    if (size != b.size()) return false;
    if (size >= 8 && size <= 16) {
      return word_at(a.data(), 0) == word_at(b.data(), 0) && word_at(a.data(), size - 8) == word_at(b.data(), size - 8);
    }
    return std::memcmp(a.data(), b.data(), size) == 0;
  }

 private:
  static std::uint64_t word_at(const char* data, std::size_t offset) noexcept {
    std::uint64_t word;
    std::memcpy(&word, data + offset, sizeof word);
    return word;
  }
};

}  // namespace detail

}  // namespace leaksnek
