#include <leaksnek/redis/cluster.hpp>

#include <algorithm>

#include <leaksnek/error.hpp>

namespace leaksnek::redis {

namespace {

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as the cluster spec.
constexpr std::array<std::uint16_t, 256> crc_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<std::uint16_t>((crc & 0x8000U) != 0 ? (crc << 1) ^ 0x1021U : crc << 1);
    }
    table[i] = crc;
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> crc = crc_table();

[[noreturn]] void malformed(std::string_view what) {
  throw StorageError{"CLUSTER SLOTS answered a malformed slot map: " + std::string{what}};
}

}  // namespace

int key_slot(std::string_view key) noexcept {
  if (auto open = key.find('{'); open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  std::uint16_t sum = 0;
  for (char c : key) {
    sum = static_cast<std::uint16_t>((sum << 8) ^ crc[((sum >> 8) ^ static_cast<unsigned char>(c)) & 0xFFU]);
  }
  return sum & (cluster_slots - 1);
}

SlotMap SlotMap::parse(const Reply& reply, const Endpoint& answered_by) {
  if (reply.type == Reply::Type::error) {
    throw StorageError{node_name(answered_by) + " answered CLUSTER SLOTS with " + reply.text};
  }
  if (reply.type != Reply::Type::array) malformed("not an array");
  if (reply.elements.size() > cluster_slots) malformed("more ranges than slots");
  SlotMap map;
  map.owner_.fill(none);
  for (const Reply& range : reply.elements) {
    if (range.type != Reply::Type::array || range.elements.size() < 3) malformed("a range without its master");
    const Reply& first = range.elements[0];
    const Reply& last = range.elements[1];
    const Reply& master = range.elements[2];
    if (first.type != Reply::Type::integer || last.type != Reply::Type::integer || first.integer < 0 ||
        last.integer >= cluster_slots || first.integer > last.integer) {
      malformed("a slot range out of 0-16383");
    }
    // A nil host: a node that does not know its address (unknown-endpoint).
    if (master.type != Reply::Type::array || master.elements.size() < 2 ||
        (master.elements[0].type != Reply::Type::string && master.elements[0].type != Reply::Type::nil) ||
        master.elements[1].type != Reply::Type::integer || master.elements[1].integer < 0 ||
        master.elements[1].integer > 65535) {
      malformed("a master that is not [host, port, ...]");
    }
    Endpoint endpoint = answered_by;  // credentials as given
    const std::string& host = master.elements[0].text;
    if (!host.empty() && host != "?") endpoint.host = host;
    endpoint.port = static_cast<int>(master.elements[1].integer);
    auto same = [&](const Endpoint& e) { return e.host == endpoint.host && e.port == endpoint.port; };
    auto at = std::find_if(map.masters_.begin(), map.masters_.end(), same);
    if (at == map.masters_.end()) {
      if (map.masters_.size() >= max_cluster_nodes) malformed("more masters than a client follows");
      map.masters_.push_back(endpoint);
      at = map.masters_.end() - 1;
    }
    const auto index = static_cast<std::uint16_t>(at - map.masters_.begin());
    std::fill(map.owner_.begin() + first.integer, map.owner_.begin() + last.integer + 1, index);
  }
  return map;
}

int SlotMap::unserved() const noexcept { return static_cast<int>(std::count(owner_.begin(), owner_.end(), none)); }

std::string node_name(const Endpoint& endpoint) {
  if (endpoint.host.find(':') != std::string::npos) return "[" + endpoint.host + "]:" + std::to_string(endpoint.port);
  return endpoint.host + ":" + std::to_string(endpoint.port);
}

Options node_options(const Options& cluster, const Endpoint& node) {
  Options options = cluster;
  options.cluster.clear();
  options.endpoint = cluster.cluster.empty() ? Endpoint{} : cluster.cluster.front();  // credentials
  options.endpoint.host = node.host;
  options.endpoint.port = node.port;
  options.endpoint.db = 0;
  return options;
}

void add_node_traffic(Statistics& total, const Statistics& node) noexcept {
  total.calls += node.calls;
  total.connects += node.connects;
  total.failures += node.failures;
  total.script_loads += node.script_loads;
}

Endpoint redirected_to(const Redirection& redirection, const Endpoint& answered_by) {
  Endpoint where = answered_by;
  if (!redirection.host.empty()) where.host = redirection.host;
  where.port = redirection.port;
  return where;
}

}  // namespace leaksnek::redis
