// A real redis-server for one test, on a free loopback port, that the test
// can kill, restart, pause and resume. Needs redis-server on PATH (the test
// command installs Debian's).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/redis/options.hpp>

namespace leaksnek::testing {

class RedisServer {
 public:
  RedisServer() : port_{free_port()} { start(); }
  // With more redis-server arguments, on `port` (0: a free one).
  explicit RedisServer(std::vector<std::string> extra, int port = 0)
      : port_{port != 0 ? port : free_port()}, extra_{std::move(extra)} {
    start();
  }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts (again) on the same port and waits until it accepts connections.
  // A first start that loses its port to another test's server moves to a
  // new port.
  void start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (spawn()) return;
      if (started_) break;  // a restart keeps its port
      // A cluster node needs its bus port (port + 10000) free too.
      const bool cluster = std::find(extra_.begin(), extra_.end(), "--cluster-enabled") != extra_.end();
      port_ = cluster ? free_cluster_port() : free_port();
    }
    throw std::runtime_error{"redis-server did not start on port " + std::to_string(port_)};
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
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
  [[nodiscard]] std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] redis::Options options() const {
    redis::Options options;
    options.endpoint.port = port_;
    return options;
  }

 private:
  // Starts redis-server; true once it is ours that answers on the port.
  bool spawn() {
    std::string port = std::to_string(port_);
    std::vector<std::string> args{"redis-server", "--port", port,        "--bind",    "127.0.0.1",   "--save", "",
                                  "--appendonly", "no",     "--logfile", "/dev/null", "--daemonize", "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error{"cannot fork"};
    if (pid_ == 0) {
      // Dies with the test (even a crashed one), and keeps off its output pipes.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int null = open("/dev/null", O_RDWR);
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: not installed, or the port is taken
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) throw std::runtime_error{"redis-server is not installed"};
        pid_ = -1;
        return false;
      }
      if (server_pid() == pid_) {
        started_ = true;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    kill();
    return false;
  }

  // The process id of the server answering on the port (INFO server), or -1.
  [[nodiscard]] pid_t server_pid() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port_));
    pid_t pid = -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      const char request[] = "INFO server\r\n";
      if (write(fd, request, sizeof request - 1) == static_cast<ssize_t>(sizeof request - 1)) {
        std::string reply;
        char buffer[4096];
        ssize_t n = 0;
        while (reply.find("\r\n\r\n", reply.find("process_id:")) == std::string::npos &&
               (n = read(fd, buffer, sizeof buffer)) > 0) {
          reply.append(buffer, static_cast<std::size_t>(n));
          if (reply.find("process_id:") != std::string::npos &&
              reply.find("\r\n", reply.find("process_id:")) != std::string::npos)
            break;
        }
        if (auto at = reply.find("process_id:"); at != std::string::npos) pid = std::stoi(reply.substr(at + 11));
      }
    }
    close(fd);
    return pid;
  }

 public:
  // A free port whose cluster bus port (port + 10000) is free too.
  static int free_cluster_port() {
    for (int attempt = 0; attempt < 100; ++attempt) {
      int port = free_port();
      if (port + 10000 > 65535) continue;
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(static_cast<std::uint16_t>(port + 10000));
      bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      close(fd);
      if (free) return port;
    }
    throw std::runtime_error{"no free port pair for a cluster node"};
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

  int port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  bool started_ = false;
};

}  // namespace leaksnek::testing
