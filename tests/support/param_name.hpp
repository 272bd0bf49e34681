// Readable names for value-parameterized tests: the index and the case's text
// with every character that gtest rejects replaced by '_'.
#pragma once

#include <cctype>
#include <string>

namespace leaksnek::testing {

template <auto Field>
struct ParamName {
  template <class Info>
  std::string operator()(const Info& info) const {
    std::string name = std::to_string(info.index) + "_";
    for (char c : std::string{info.param.*Field}) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return name;
  }
};

}  // namespace leaksnek::testing
