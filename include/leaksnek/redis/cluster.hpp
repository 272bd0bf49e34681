// Redis Cluster routing without I/O: which slot a key hashes to, and which
// master serves each slot, read from CLUSTER SLOTS. The blocking Client and
// the AsyncClient route with it (client.cpp, async_client.cpp); it is tested
// with no server (tests/redis/cluster_test.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <leaksnek/redis/options.hpp>
#include <leaksnek/redis/session.hpp>

namespace leaksnek::redis {

inline constexpr int cluster_slots = 16384;

// The key's slot: CRC16 (XMODEM) of the key, or of its hash tag (the bytes
// between the first '{' and the next '}', when not empty), modulo 16384.
int key_slot(std::string_view key) noexcept;

// Which master serves each slot: an index into masters(), or none. Built
// from a CLUSTER SLOTS reply; an endpoint the reply leaves empty or "?" (a
// node that does not know its own address) is the node that answered.
class SlotMap {
 public:
  // Throws StorageError naming what is malformed, or the error the node
  // answered instead.
  static SlotMap parse(const Reply& cluster_slots_reply, const Endpoint& answered_by);

  [[nodiscard]] const std::vector<Endpoint>& masters() const noexcept { return masters_; }
  // The master of `slot`, or nothing when no master serves it.
  [[nodiscard]] std::optional<std::size_t> owner(int slot) const noexcept {
    const std::uint16_t i = owner_[static_cast<std::size_t>(slot)];
    return i == none ? std::nullopt : std::optional<std::size_t>{i};
  }
  // Slots no master serves.
  [[nodiscard]] int unserved() const noexcept;

  // Fills a client's routing table: `node_of(endpoint)` is the client's
  // node for a master; a slot no master serves gets nullptr.
  template <class Node, class NodeOf>
  void route(std::array<Node*, cluster_slots>& table, NodeOf&& node_of) const {
    std::vector<Node*> nodes;
    nodes.reserve(masters_.size());
    for (const Endpoint& master : masters_) nodes.push_back(&node_of(master));
    for (std::size_t slot = 0; slot < table.size(); ++slot)
      table[slot] = owner_[slot] == none ? nullptr : nodes[owner_[slot]];
  }

 private:
  static constexpr std::uint16_t none = 0xFFFF;
  std::vector<Endpoint> masters_;
  std::array<std::uint16_t, cluster_slots> owner_{};
};

// "host:port", the name of a node.
std::string node_name(const Endpoint& endpoint);

// The options of one node of the cluster `cluster` (its seeds' credentials,
// database 0, every other setting as given).
Options node_options(const Options& cluster, const Endpoint& node);

// Adds a node's traffic counters (calls, connects, failures, loads) to a
// cluster's total; the cluster's own counters are its session's.
void add_node_traffic(Statistics& total, const Statistics& node) noexcept;

// How long a cluster client waits before retrying TRYAGAIN or CLUSTERDOWN
// for the `round`th time: 1, 2, 4 ... 32 ms.
inline std::chrono::milliseconds backoff(int round) { return std::chrono::milliseconds{1 << std::min(round, 5)}; }

// After a failure, a cluster client reads the slot map at most this often: a
// dead master must not turn every call into a round of CLUSTER SLOTS.
inline constexpr std::chrono::milliseconds refresh_interval{100};

// A redirection's target: the node it names, or the one that answered.
Endpoint redirected_to(const Redirection& redirection, const Endpoint& answered_by);

// Nodes a cluster client knows at most (masters, seeds, redirection
// targets): a node that names ever new addresses cannot grow it further.
inline constexpr std::size_t max_cluster_nodes = 1024;

// Redirections one call follows at most (a loop between misconfigured nodes ends).
inline constexpr int max_redirections = 16;

}  // namespace leaksnek::redis
