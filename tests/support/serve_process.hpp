// The `leaksnek serve` binary on a free loopback port, and a keep-alive
// HTTP/1.1 client for it: for tests that drive the server over real sockets.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace leaksnek::testing {

namespace serve_detail {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// The binary, started on a free port; stopped with SIGTERM.
class ServeProcess {
 public:
  // `extra`: more options; `prefix`: shell commands run before it (ulimit).
  explicit ServeProcess(const std::string& config, const std::string& extra = "", const std::string& prefix = "") {
    path_ = std::filesystem::temp_directory_path() /
            ("leaksnek-serve-" + std::to_string(getpid()) + "-" + std::to_string(counter_++) + ".toml");
    std::ofstream{path_} << config;
    std::string command = std::string{LEAKSNEK_BINARY} + " serve --config " + path_.string() +
                          " --listen 127.0.0.1:0 --read-timeout 500ms " + extra;
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error{"pipe"};
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      execl("/bin/sh", "sh", "-c", (prefix + (prefix.empty() ? "" : "; ") + "exec " + command).c_str(), nullptr);
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(out[0]);
    auto at = line.find("listening on 127.0.0.1:");
    if (at == std::string::npos) throw std::runtime_error{"serve did not start: " + line};
    port_ = std::stoi(line.substr(at + 23));
    if (auto grpc = line.find(" grpc on 127.0.0.1:"); grpc != std::string::npos) {
      grpc_port_ = std::stoi(line.substr(grpc + 19));
    }
    if (auto threads = line.find(" threads)"); threads != std::string::npos) {
      threads_ = std::stoi(line.substr(line.rfind(' ', threads - 1) + 1));
    }
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(path_);
  }

  // SIGTERM; the exit status, or -1 if it took over `limit`.
  int stop(std::chrono::milliseconds limit = 15s) {
    terminate();
    return wait(limit);
  }
  void terminate() { kill(pid_, SIGTERM); }
  // Replaces the configuration file and sends SIGHUP (serve reloads it).
  void reload(const std::string& config) {
    std::ofstream{path_, std::ios::trunc} << config;
    kill(pid_, SIGHUP);
  }
  // The exit status, or -1 if it took over `limit` (-2: killed by a signal).
  int wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
      }
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }

  [[nodiscard]] int port() const noexcept { return port_; }
  // The gRPC port it said it listens on (0: none).
  [[nodiscard]] int grpc_port() const noexcept { return grpc_port_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // The number of threads it said it runs.
  [[nodiscard]] int threads() const noexcept { return threads_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int grpc_port_ = 0;
  int threads_ = 0;
};

// A keep-alive HTTP/1.1 client.
class Client {
 public:
  explicit Client(int port) : socket_{io_} {
    socket_.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  }
  http::response<http::string_body> send(http::verb method, const std::string& target, const std::string& body = "",
                                         const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "localhost");
    for (const auto& [name, value] : headers) request.insert(name, value);  // a name given twice: two lines
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.prepare_payload();
    http::write(socket_, request);
    http::response_parser<http::string_body> parser;
    parser.skip(method == http::verb::head);  // a HEAD response has no body, whatever its Content-Length
    http::read(socket_, buffer_, parser);
    return parser.release();
  }
  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

// Whether the server closed `socket` (end of stream or reset) within
// `limit`, reading nothing else. (Asio's blocking reads ignore SO_RCVTIMEO.)
inline bool closed_within(tcp::socket& socket, std::chrono::milliseconds limit) {
  pollfd wanted{socket.native_handle(), POLLIN, 0};
  if (::poll(&wanted, 1, static_cast<int>(limit.count())) != 1) return false;
  char byte = 0;
  const ssize_t got = ::recv(socket.native_handle(), &byte, 1, MSG_DONTWAIT);
  return got == 0 || (got < 0 && errno == ECONNRESET);
}

// What the server sends on `socket` until it closes it (end of stream or
// reset); nullopt if it is still open after `limit`.
inline std::optional<std::string> read_until_closed(tcp::socket& socket, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string got;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd wanted{socket.native_handle(), POLLIN, 0};
    if (::poll(&wanted, 1, static_cast<int>(left.count())) != 1) continue;
    char chunk[4096];
    const ssize_t n = ::recv(socket.native_handle(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return got;
    if (n > 0) got.append(chunk, static_cast<std::size_t>(n));
  }
}

// Sends the head of `POST /v1/acquire` with "Expect: 100-continue" and a
// Content-Length for `body`, and reads the interim answer: its status line
// ("HTTP/1.1 100 Continue" when the server then waits for the body).
inline std::string begin_request(Client& client, const std::string& body) {
  asio::write(client.socket(), asio::buffer("POST /v1/acquire HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                            "Content-Type: application/json\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n\r\n"));
  std::string interim;
  char c = 0;
  while (interim.find("\r\n\r\n") == std::string::npos && asio::read(client.socket(), asio::buffer(&c, 1)) == 1) {
    interim.push_back(c);
  }
  return interim.substr(0, interim.find("\r\n"));
}

}  // namespace serve_detail

using serve_detail::begin_request;
using serve_detail::closed_within;
using serve_detail::read_until_closed;

using serve_detail::Client;
using serve_detail::ServeProcess;

}  // namespace leaksnek::testing
