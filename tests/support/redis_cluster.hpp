// A real Redis Cluster for one test: 3 masters and 3 replicas of
// redis-server on free loopback ports, joined by `redis-cli --cluster
// create`, that the test can query, reshard and break (kill a master).
// Needs redis-server and redis-cli on PATH (the test command installs them).
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/redis/client.hpp>

#include "redis_server.hpp"

namespace leaksnek::testing {

class RedisCluster {
 public:
  // node_timeout_ms: how long a master may be silent before its replica
  // takes over (redis's cluster-node-timeout).
  explicit RedisCluster(int node_timeout_ms = 1000) {
    char pattern[] = "/tmp/leaksnek-cluster-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error{"cannot make a directory for the cluster"};
    dir_ = pattern;
    std::string create = "redis-cli --cluster create";
    for (int i = 0; i < 6; ++i) {
      const int port = RedisServer::free_cluster_port();
      const std::string p = std::to_string(port);
      nodes_.push_back(std::make_unique<RedisServer>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", dir_ + "/nodes-" + p + ".conf",
                                   "--cluster-node-timeout", std::to_string(node_timeout_ms), "--dir", dir_,
                                   "--enable-debug-command", "local"},
          port));
      create += " 127.0.0.1:" + std::to_string(nodes_.back()->port());  // moved if that port was taken
    }
    create += " --cluster-replicas 1 --cluster-yes >" + dir_ + "/create.log 2>&1";
    if (std::system(create.c_str()) != 0) throw std::runtime_error{"redis-cli --cluster create failed: see " + dir_};
    wait_until_ok(std::chrono::seconds{30});
  }
  ~RedisCluster() {
    nodes_.clear();  // kills every server
    std::system(("rm -rf " + dir_).c_str());
  }
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // One node's address: a cluster client needs no more to find the rest.
  [[nodiscard]] std::string url() const { return "redis-cluster://127.0.0.1:" + std::to_string(port(0)); }
  [[nodiscard]] redis::Options options() const {
    redis::Options options;
    options.set_url(url());
    return options;
  }
  [[nodiscard]] int port(std::size_t i) const { return nodes_.at(i)->port(); }
  [[nodiscard]] std::size_t size() const { return nodes_.size(); }

  // A command on one node (not routed).
  redis::Reply on(int port, std::initializer_list<std::string_view> args) const {
    redis::Options options;
    options.endpoint.port = port;
    options.timeout = std::chrono::seconds{5};
    return redis::Client{options}.command(args);
  }
  redis::Reply on(int port, const std::vector<std::string>& args) const {
    redis::Options options;
    options.endpoint.port = port;
    options.timeout = std::chrono::seconds{5};
    std::vector<std::string_view> views{args.begin(), args.end()};
    return redis::Client{options}.command(views);
  }

  [[nodiscard]] std::string node_id(int port) const { return on(port, {"CLUSTER", "MYID"}).text; }

  // The port of the master serving `slot`, as that node's own view says.
  [[nodiscard]] int master_of(int slot) const {
    for (const auto& node : nodes_) {
      if (!node->running()) continue;
      redis::Reply slots = on(node->port(), {"CLUSTER", "SLOTS"});
      for (const redis::Reply& range : slots.elements) {
        if (range.elements[0].integer <= slot && slot <= range.elements[1].integer) {
          return static_cast<int>(range.elements[2].elements[1].integer);
        }
      }
      return -1;
    }
    return -1;
  }
  // The replica of master `port`.
  [[nodiscard]] int replica_of(int port) const {
    const std::string id = node_id(port);
    for (const auto& node : nodes_) {
      if (!node->running() || node->port() == port) continue;
      redis::Reply role = on(node->port(), {"ROLE"});
      if (role.elements.size() >= 3 && role.elements[0].text == "slave" && role.elements[2].integer == port) {
        return node->port();
      }
    }
    return -1;
  }
  // True when `port` says it is a master.
  [[nodiscard]] bool is_master(int port) const {
    redis::Reply role = on(port, {"ROLE"});
    return !role.elements.empty() && role.elements[0].text == "master";
  }

  // SIGKILL of the node on `port`.
  void kill(int port) {
    for (auto& node : nodes_) {
      if (node->port() == port) node->kill();
    }
  }

  // Waits until every running node reports cluster_state:ok with every slot
  // served, and every replica's link to its master is up.
  void wait_until_ok(std::chrono::seconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (all_ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    throw std::runtime_error{"the cluster did not become ok: see " + dir_};
  }

 private:
  [[nodiscard]] bool all_ok() const {
    try {
      for (const auto& node : nodes_) {
        if (!node->running()) continue;
        std::string info = on(node->port(), {"CLUSTER", "INFO"}).text;
        if (info.find("cluster_state:ok") == std::string::npos ||
            info.find("cluster_slots_ok:16384") == std::string::npos) {
          return false;
        }
        std::string replication = on(node->port(), {"INFO", "replication"}).text;
        if (replication.find("role:slave") != std::string::npos &&
            replication.find("master_link_status:up") == std::string::npos) {
          return false;
        }
      }
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  std::string dir_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace leaksnek::testing
