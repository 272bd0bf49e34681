// A real redis-server for one test, on a free loopback port, that the test
// can kill, restart, pause and resume. Needs redis-server on PATH (the test
// command installs Debian's).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/redis/options.hpp>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace leaksnek::testing {

class RedisServer {
 public:
  RedisServer() : port_{free_port()} { start(); }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts (again) on the same port and waits until it accepts connections.
  void start() {
    std::string port = std::to_string(port_);
    std::vector<std::string> args{"redis-server", "--port", port,        "--bind",    "127.0.0.1",   "--save", "",
                                  "--appendonly", "no",     "--logfile", "/dev/null", "--daemonize", "no"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error{"cannot start redis-server (is it installed?)"};
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (!accepts()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error{"redis-server did not start"};
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
  }

  // SIGKILL: the server vanishes mid-run, as in a crash.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing.
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] redis::Options options() const {
    redis::Options options;
    options.endpoint.port = port_;
    return options;
  }

 private:
  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      close(fd);
      throw std::runtime_error{"no free port"};
    }
    close(fd);
    return ntohs(address.sin_port);
  }

  [[nodiscard]] bool accepts() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port_));
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return ok;
  }

  int port_;
  pid_t pid_ = -1;
};

}  // namespace leaksnek::testing
