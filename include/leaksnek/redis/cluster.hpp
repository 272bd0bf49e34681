// Redis Cluster routing without I/O: which slot a key hashes to, and which
// master serves each slot, read from CLUSTER SLOTS. The blocking Client and
// the AsyncClient route with it (client.cpp, async_client.cpp); it is tested
// with no server (tests/redis/cluster_test.cpp).
#pragma once

#include <array>
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
  // Throws StorageError naming what is malformed.
  static SlotMap parse(const Reply& cluster_slots_reply, const Endpoint& answered_by);

  [[nodiscard]] const std::vector<Endpoint>& masters() const noexcept { return masters_; }
  // The master of `slot`, or nothing when no master serves it.
  [[nodiscard]] std::optional<std::size_t> owner(int slot) const noexcept {
    const std::uint16_t i = owner_[static_cast<std::size_t>(slot)];
    return i == none ? std::nullopt : std::optional<std::size_t>{i};
  }
  // Slots no master serves.
  [[nodiscard]] int unserved() const noexcept;

 private:
  static constexpr std::uint16_t none = 0xFFFF;
  std::vector<Endpoint> masters_;
  std::array<std::uint16_t, cluster_slots> owner_{};
};

// "host:port", the name of a node.
std::string node_name(const Endpoint& endpoint);

}  // namespace leaksnek::redis
