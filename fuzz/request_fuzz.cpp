// libFuzzer target: `leaksnek serve`'s request handling. The input is read as
// raw HTTP bytes by the server's own parser settings (8 KiB of headers, 4 KiB
// of body); a request that parses is answered by the service on the memory
// store. The answer must be a well-formed status, never a crash or a 5xx.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>

#include "serve/service.hpp"

namespace {

leaksnek::cli::ServeConfig fuzz_config() {
  return leaksnek::cli::parse_serve_config(R"(
[policies.api]
algorithm = "gcra"
limit = "100/s"
[policies.login]
algorithm = "sliding-log"
limits = ["5/m", "20/h"]
)",
                                           "fuzz.toml");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static boost::asio::io_context io;
  static leaksnek::cli::Service service{io.get_executor(), fuzz_config()};
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(4 * 1024);
  parser.eager(true);
  boost::system::error_code error;
  parser.put(boost::asio::buffer(data, size), error);
  if (error || !parser.is_done()) return 0;
  leaksnek::cli::HttpResponse answer;
  bool answered = false;
  boost::asio::co_spawn(io, service.handle(parser.get()),
                        [&](std::exception_ptr failure, leaksnek::cli::HttpResponse r) {
                          if (failure) __builtin_trap();
                          answer = std::move(r);
                          answered = true;
                        });
  io.restart();
  io.run();
  const unsigned status = answer.result_int();
  if (!answered || status < 200 || status >= 500) __builtin_trap();
  // The bytes serve writes for that answer read back as the same response.
  answer.keep_alive(parser.get().keep_alive());
  std::string wire;
  leaksnek::cli::serialize(answer, wire);
  http::response_parser<http::string_body> reader;
  reader.eager(true);
  reader.skip(parser.get().method() == http::verb::head);
  reader.put(boost::asio::buffer(wire), error);
  if (!error && !reader.is_done()) reader.put_eof(error);  // 204 and friends end without a length
  if (error || !reader.is_done() || reader.get().result_int() != status || reader.get().body() != answer.body() ||
      reader.get().keep_alive() != answer.keep_alive()) {
    __builtin_trap();
  }
  return 0;
}
