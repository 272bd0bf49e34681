// Rate: the state of one key encoded as integers, for storages that keep
// plain values (the seed's Rate, which held operations and updated_at). Each
// algorithm encodes its own state; a user storage only stores the fields.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <leaksnek/detail/arithmetic.hpp>
#include <leaksnek/error.hpp>

namespace leaksnek {

// Stored state that no algorithm could have written (a truncated value, a
// field out of range). Thrown before anything is written back.
class StateError : public Error {
 public:
  using Error::Error;
};

struct Rate {
  // Empty: the key was never seen (or has been forgotten).
  std::vector<std::int64_t> fields;

  [[nodiscard]] bool empty() const noexcept { return fields.empty(); }
  friend bool operator==(const Rate&, const Rate&) = default;
};

// Writes an algorithm's state into Rate::fields.
class RateWriter {
 public:
  explicit RateWriter(Rate& rate) : fields_{rate.fields} {}
  void put(std::int64_t value) { fields_.push_back(value); }
  void put128(detail::int128 value) {
    put(static_cast<std::int64_t>(value >> 64));
    put(static_cast<std::int64_t>(static_cast<std::uint64_t>(value)));
  }

 private:
  std::vector<std::int64_t>& fields_;
};

// Reads an algorithm's state back; throws StateError when fields run out or
// a value is out of range.
class RateReader {
 public:
  explicit RateReader(std::span<const std::int64_t> fields) : rest_{fields} {}
  [[nodiscard]] bool done() const noexcept { return rest_.empty(); }

  std::int64_t take() {
    if (rest_.empty()) throw StateError{"stored rate state is truncated"};
    std::int64_t value = rest_.front();
    rest_ = rest_.subspan(1);
    return value;
  }
  detail::int128 take128() {
    auto high = static_cast<detail::int128>(take());
    auto low = static_cast<std::uint64_t>(take());
    return (high << 64) | static_cast<detail::int128>(low);
  }
  template <class T>
  T take_in(T low, T high, const char* what) {
    T value = static_cast<T>(take());
    if (value < low || value > high) throw StateError{std::string{"stored rate state has "} + what + " out of range"};
    return value;
  }
  detail::int128 take128_in(detail::int128 low, detail::int128 high, const char* what) {
    detail::int128 value = take128();
    if (value < low || value > high) throw StateError{std::string{"stored rate state has "} + what + " out of range"};
    return value;
  }

 private:
  std::span<const std::int64_t> rest_;
};

}  // namespace leaksnek
