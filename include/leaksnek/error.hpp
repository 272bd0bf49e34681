// Exceptions thrown by leaksnek at construction and parsing time. The decision
// path never throws for a denial: a denial is a Decision.
#pragma once

#include <stdexcept>
#include <string>

namespace leaksnek {

// Base of every exception leaksnek throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A malformed or out-of-range rate limit (e.g. rl("10/x")). The message names
// the input and the problem.
class RateError : public Error {
 public:
  using Error::Error;
};

// A request cost that is not a positive integer.
class CostError : public Error {
 public:
  using Error::Error;
};

}  // namespace leaksnek
