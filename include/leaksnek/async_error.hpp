// Error codes of leaksnek's asynchronous operations. A denial is not an
// error: it is a Decision with allowed == false.
#pragma once

#include <string>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace leaksnek {

enum class errc {
  // The storage or the mutex failed (threw); nothing was decided.
  storage_failed = 1,
  // Stored state no algorithm could have written; nothing was changed.
  malformed_state,
};

namespace detail {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"  // boost's category base: protected destructor by design
// NOLINTNEXTLINE: boost's category base has a protected, non-virtual destructor by design
class ErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "leaksnek"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::storage_failed:
        return "the rate storage or key mutex failed";
      case errc::malformed_state:
        return "stored rate state is malformed";
    }
    return "unknown leaksnek error";
  }
};
#pragma GCC diagnostic pop
}  // namespace detail

inline const boost::system::error_category& error_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}

inline boost::system::error_code make_error_code(errc value) noexcept {
  return {static_cast<int>(value), error_category()};
}

}  // namespace leaksnek

template <>
struct boost::system::is_error_code_enum<leaksnek::errc> : std::true_type {};
