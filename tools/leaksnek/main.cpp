// The leaksnek command line.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "acquire.hpp"
#include "convert.hpp"
#include "serve/serve.hpp"
#include "simulate.hpp"

namespace {

constexpr std::string_view usage =
    "usage: leaksnek COMMAND [OPTIONS]\n"
    "commands:\n"
    "  simulate   replay a trace of requests against a rate limit policy\n"
    "  acquire    make rate limit decisions for a key, in memory or on a Redis shared by a fleet\n"
    "  serve      an HTTP rate limit service over named policies (memory, or Redis for a fleet)\n"
    "  convert    turn an nginx 'combined' access log into a trace for simulate\n"
    "Run 'leaksnek COMMAND --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage.data(), stderr);
    return 2;
  }
  std::string_view command = argv[1];
  if (command == "simulate") return leaksnek::cli::simulate_main(argc - 2, argv + 2);
  if (command == "acquire") return leaksnek::cli::acquire_main(argc - 2, argv + 2);
  if (command == "serve") return leaksnek::cli::serve_main(argc - 2, argv + 2);
  if (command == "convert") return leaksnek::cli::convert_main(argc - 2, argv + 2);
  if (command == "--help" || command == "help") {
    std::fputs(usage.data(), stdout);
    return 0;
  }
  std::fprintf(stderr, "leaksnek: unknown command '%s'\n%s", argv[1], usage.data());
  return 2;
}
