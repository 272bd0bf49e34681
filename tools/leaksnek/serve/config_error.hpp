// The error of a configuration that cannot be served: its message names the
// file and what in it is wrong.
#pragma once

#include <leaksnek/error.hpp>

namespace leaksnek::cli {

class ConfigError : public Error {
 public:
  using Error::Error;
};

}  // namespace leaksnek::cli
