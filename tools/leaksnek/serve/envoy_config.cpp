#include "serve/envoy_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <system_error>
#include <unordered_set>
#include <utility>

#include <leaksnek/algorithms/registry.hpp>

namespace leaksnek::cli::envoy {

namespace {

constexpr std::size_t max_file_bytes = std::size_t{4} * 1024 * 1024;
constexpr std::size_t max_directory_files = 1000;
constexpr std::size_t max_descriptors = 10'000;
constexpr int max_depth = 16;
constexpr std::size_t max_limits = 8;
constexpr std::size_t max_replaces = 64;
// How deep the check of an ignored value goes; deeper is refused.
constexpr int max_ignored_depth = 32;
constexpr std::size_t max_ignored_nodes = 100'000;
// Upstream reads requests_per_unit into a uint32.
constexpr std::int64_t max_requests_per_unit = 4'294'967'295;

constexpr std::array<Unit, 7> units{Unit::second, Unit::minute, Unit::hour, Unit::day,
                                    Unit::week,   Unit::month,  Unit::year};

// Upstream's validKeys: it checks every map's keys against this one list,
// wherever the map is, and then ignores those its structs do not read.
constexpr std::array<std::string_view, 15> upstream_keys{"domain",
                                                         "key",
                                                         "value",
                                                         "descriptors",
                                                         "rate_limit",
                                                         "unit",
                                                         "requests_per_unit",
                                                         "unlimited",
                                                         "name",
                                                         "replaces",
                                                         "detailed_metric",
                                                         "value_to_metric",
                                                         "share_threshold",
                                                         "shadow_mode",
                                                         "quota_mode"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_bucket(std::string_view algorithm) {
  return algorithm == "gcra" || algorithm == "token-bucket" || algorithm == "leaky-bucket";
}

std::string in_quotes(std::string_view text) {
  std::string out{"\""};
  return out.append(text).append("\"");
}

// The composite key upstream files a node under among its siblings, and
// the piece of its stats path: "key" or "key_value".
std::string composite(std::string_view key, std::string_view value) {
  std::string out{key};
  if (!value.empty()) out.append("_").append(value);
  return out;
}

// A plain scalar as YAML 1.1 (upstream's gopkg.in/yaml.v2) resolves it.
enum class Kind { null, boolean, integer, other_number, string };

bool yaml_bool(std::string_view text, bool& value) {
  static constexpr std::array<std::string_view, 11> yes{"y",    "Y",    "yes", "Yes", "YES", "true",
                                                        "True", "TRUE", "on",  "On",  "ON"};
  static constexpr std::array<std::string_view, 11> no{"n",     "N",     "no",  "No",  "NO", "false",
                                                       "False", "FALSE", "off", "Off", "OFF"};
  if (contains(yes, text)) return value = true, true;
  if (contains(no, text)) return value = false, true;
  return false;
}

enum class IntParse { ok, overflow, not_integer };

// Go's strconv.ParseInt(text, 0, 64) after yaml.v2 drops the '_'s: a sign,
// then decimal, 0x hex, 0o or leading-0 octal, or 0b binary.
IntParse yaml_int(std::string_view text, std::int64_t& value) {
  std::string digits;
  for (char c : text)
    if (c != '_') digits.push_back(c);
  std::string_view rest = digits;
  bool negative = false;
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) {
    negative = rest.front() == '-';
    rest.remove_prefix(1);
  }
  int base = 10;
  if (rest.size() > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')) {
    base = 16;
    rest.remove_prefix(2);
  } else if (rest.size() > 2 && rest[0] == '0' && (rest[1] == 'o' || rest[1] == 'O')) {
    base = 8;
    rest.remove_prefix(2);
  } else if (rest.size() > 2 && rest[0] == '0' && (rest[1] == 'b' || rest[1] == 'B')) {
    base = 2;
    rest.remove_prefix(2);
  } else if (rest.size() > 1 && rest[0] == '0') {
    base = 8;
    rest.remove_prefix(1);
  }
  if (rest.empty()) return IntParse::not_integer;
  std::uint64_t magnitude = 0;
  auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), magnitude, base);
  if (end != rest.data() + rest.size()) return IntParse::not_integer;
  if (error == std::errc::result_out_of_range) return IntParse::overflow;
  if (error != std::errc{}) return IntParse::not_integer;
  constexpr std::uint64_t limit = std::uint64_t{1} << 63;
  if (negative ? magnitude > limit : magnitude >= limit) return IntParse::overflow;
  value = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
  return IntParse::ok;
}

// yaml.v2's float forms: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
// and .inf, .nan.
bool yaml_float(std::string_view text) {
  static constexpr std::array<std::string_view, 12> special{".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                                                            "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN"};
  if (contains(special, text)) return true;
  std::size_t at = 0;
  auto digits = [&] {
    std::size_t start = at;
    while (at < text.size() && (std::isdigit(static_cast<unsigned char>(text[at])) != 0 || text[at] == '_')) ++at;
    return at - start;
  };
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
  std::size_t whole = digits();
  std::size_t fraction = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    fraction = digits();
  } else if (whole == 0) {
    return false;
  }
  if (whole == 0 && fraction == 0) return false;
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
    if (digits() == 0) return false;
  }
  return at == text.size();
}

Kind kind_of(const YAML::Node& node) {
  if (node.IsNull()) return Kind::null;
  if (node.Tag() != "?") return Kind::string;  // quoted or explicitly tagged
  const std::string& text = node.Scalar();
  bool flag = false;
  if (yaml_bool(text, flag)) return Kind::boolean;
  std::int64_t number = 0;
  switch (yaml_int(text, number)) {
    case IntParse::ok:
      return Kind::integer;
    case IntParse::overflow:
      return Kind::other_number;
    case IntParse::not_integer:
      break;
  }
  return yaml_float(text) ? Kind::other_number : Kind::string;
}

std::string lower(std::string_view text) {
  std::string out{text};
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<Unit> unit_named(std::string_view text) {
  const std::string name = lower(text);
  for (Unit unit : units)
    if (unit_name(unit) == name) return unit;
  return std::nullopt;
}

std::int64_t max_unit_multiplier(Unit unit) {
  return std::min<std::int64_t>(max_requests_per_unit, RateLimit::max_period / unit_duration(unit));
}

// What one map of `rate_limit` or `rate_limits` said.
struct LimitSpec {
  Limit limit;
  bool unlimited = false;
  std::optional<std::string> algorithm;
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> replaces;
  YAML::Node burst_at;  // where burst was given, for a message once the algorithm is known
};

class Parser {
 public:
  explicit Parser(std::string_view file) : file_{file} {}

  Domain parse(std::string_view text) {
    if (text.size() > max_file_bytes) fail("", "larger than 4 MiB", YAML::Node{});
    YAML::Node loaded;
    try {
      loaded = YAML::Load(std::string{text});
    } catch (const YAML::Exception& error) {
      fail_at_line("", "error loading config file: " + error.msg, error.mark);
    }
    // Const, so that looking a key up never adds it.
    const YAML::Node& root = loaded;
    Domain domain;
    domain.file = file_;
    if (root.IsNull()) fail("", "config file cannot have empty domain", root);
    if (!root.IsMap()) fail("", "the file must be a map of domain and descriptors", root);
    const YAML::Node name = root["domain"];
    if (name) domain.name = string(name, "", "domain");
    if (domain.name.empty()) fail("", "config file cannot have empty domain", root);
    domain_ = domain.name;
    const std::string where = "domain " + in_quotes(domain_);
    keys(root, where, {"domain", "descriptors"});
    if (const YAML::Node list = root["descriptors"]) {
      descriptors(list, domain.descriptors, where, domain.name, "", 1);
    }
    return domain;
  }

 private:
  [[noreturn]] void fail(std::string_view where, std::string_view problem, const YAML::Node& at) const {
    fail_at_line(where, problem, at.Mark());
  }

  [[noreturn]] void fail_at_line(std::string_view where, std::string_view problem, const YAML::Mark& mark) const {
    std::string message{file_};
    message.append(": ");
    if (!where.empty()) message.append(where).append(": ");
    message.append(problem);
    if (!mark.is_null()) message.append(" (line ").append(std::to_string(mark.line + 1)).append(")");
    throw ConfigError{message};
  }

  // Refuses a key that is not `known` here and that upstream does not know
  // anywhere; one upstream knows is checked as upstream checks it, then
  // ignored (`strict`: refused too, for maps only leaksnek reads). A key
  // given twice is refused (yaml.v2 would keep the last).
  void keys(const YAML::Node& map, std::string_view where, std::initializer_list<std::string_view> known,
            bool strict = false) const {
    std::unordered_set<std::string> seen;
    for (const auto& pair : map) {
      const YAML::Node& key = pair.first;
      if (!key.IsScalar() || kind_of(key) != Kind::string) {
        fail(where, "config error, key is not of type string", key);
      }
      const std::string& name = key.Scalar();
      if (!seen.insert(name).second) fail(where, "duplicate key " + in_quotes(name), key);
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      if (strict || !contains(upstream_keys, name)) fail(where, "unknown key " + in_quotes(name), key);
      ignored(pair.second, where, 1);
    }
  }

  // A value upstream accepts and ignores: its maps' keys upstream's, its
  // lists of maps, its scalars strings, integers or booleans.
  void ignored(const YAML::Node& node, std::string_view where, int depth) const {
    if (depth > max_ignored_depth || ++ignored_nodes_ > max_ignored_nodes) {
      fail(where, "too large or nested too deep", node);
    }
    if (node.IsMap()) {
      for (const auto& pair : node) {
        const YAML::Node& key = pair.first;
        if (!key.IsScalar() || kind_of(key) != Kind::string) {
          fail(where, "config error, key is not of type string", key);
        }
        if (!contains(upstream_keys, key.Scalar())) fail(where, "unknown key " + in_quotes(key.Scalar()), key);
        ignored(pair.second, where, depth + 1);
      }
    } else if (node.IsSequence()) {
      for (const YAML::Node& element : node) {
        if (!element.IsMap()) fail(where, "config error, yaml file contains list of type other than map", element);
        ignored(element, where, depth + 1);
      }
    } else if (kind_of(node) == Kind::other_number) {
      fail(where, "error checking config: " + in_quotes(node.Scalar()) + " is not a string, integer or boolean", node);
    }
  }

  // A string field: any scalar, as yaml.v2 reads one into a string (null:
  // empty), except the numbers upstream's key check refuses.
  std::string string(const YAML::Node& node, std::string_view where, std::string_view key) const {
    if (node.IsNull()) return {};
    if (!node.IsScalar()) fail(where, in_quotes(key) + " must be a string", node);
    if (kind_of(node) == Kind::other_number) {
      fail(where, in_quotes(key) + " must be a string, integer or boolean, got " + node.Scalar(), node);
    }
    return node.Scalar();
  }

  bool boolean(const YAML::Node& node, std::string_view where, std::string_view key) const {
    bool value = false;
    if (node.IsNull()) return false;
    if (!node.IsScalar() || node.Tag() != "?" || !yaml_bool(node.Scalar(), value)) {
      fail(where, in_quotes(key) + " must be true or false", node);
    }
    return value;
  }

  std::int64_t integer(const YAML::Node& node, std::string_view where, std::string_view key, std::int64_t low,
                       std::int64_t high) const {
    std::int64_t value = 0;
    if (!node.IsScalar() || node.Tag() != "?" || kind_of(node) != Kind::integer) {
      fail(where, in_quotes(key) + " must be an integer", node);
    }
    if (yaml_int(node.Scalar(), value) != IntParse::ok || value < low || value > high) {
      fail(where,
           in_quotes(key) + " must be from " + std::to_string(low) + " to " + std::to_string(high) + ", got " +
               node.Scalar(),
           node);
    }
    return value;
  }

  void descriptors(const YAML::Node& list, std::vector<Descriptor>& out, std::string_view parent_where,
                   std::string_view parent_path, std::string_view parent_relative, int depth) {
    if (list.IsNull()) return;
    if (!list.IsSequence()) fail(parent_where, "\"descriptors\" must be a list", list);
    if (depth > max_depth) {
      fail(parent_where, "descriptors nested deeper than " + std::to_string(max_depth) + " levels", list);
    }
    std::unordered_set<std::string> siblings;
    std::size_t index = 0;
    for (const YAML::Node& node : list) {
      ++index;
      if (!node.IsMap()) fail(parent_where, "config error, yaml file contains list of type other than map", node);
      if (++count_ > max_descriptors) {
        fail(parent_where, "more than " + std::to_string(max_descriptors) + " descriptors in one file", node);
      }
      std::string where = "domain " + in_quotes(domain_) + ", descriptor #" + std::to_string(index);
      if (!parent_relative.empty()) where.append(" under ").append(in_quotes(parent_relative));

      Descriptor descriptor;
      if (const YAML::Node key = node["key"]) descriptor.key = string(key, where, "key");
      if (descriptor.key.empty()) fail(where, "descriptor has empty key", node);
      if (const YAML::Node value = node["value"]) descriptor.value = string(value, where, "value");
      const std::string piece = composite(descriptor.key, descriptor.value);
      const std::string relative = parent_relative.empty() ? piece : std::string{parent_relative} + "." + piece;
      descriptor.path = std::string{parent_path} + "." + piece;
      where = "domain " + in_quotes(domain_) + ", descriptor " + in_quotes(relative);
      if (!siblings.insert(piece).second) {
        fail(where, "duplicate descriptor composite key " + in_quotes(descriptor.path), node);
      }

      keys(node, where,
           {"key", "value", "rate_limit", "rate_limits", "descriptors", "shadow_mode", "quota_mode", "detailed_metric",
            "value_to_metric", "share_threshold", "metadata"});
      descriptor.shadow_mode = flag(node, where, "shadow_mode");
      descriptor.quota_mode = flag(node, where, "quota_mode");
      descriptor.detailed_metric = flag(node, where, "detailed_metric");
      descriptor.value_to_metric = flag(node, where, "value_to_metric");
      descriptor.share_threshold = flag(node, where, "share_threshold");
      if (descriptor.share_threshold && descriptor.value.find('*') == std::string::npos) {
        fail(where, "share_threshold can only be used with wildcard values (containing '*')", node);
      }
      // Upstream hands metadata back to Envoy; we only accept it.
      if (const YAML::Node metadata = node["metadata"]; metadata && !metadata.IsNull() && !metadata.IsMap()) {
        fail(where, "\"metadata\" must be a map", metadata);
      }

      const YAML::Node one = node["rate_limit"];
      const YAML::Node several = node["rate_limits"];
      if (one && several) fail(where, "\"rate_limit\" and \"rate_limits\" together: give one", several);
      if (one) rate_limit(one, descriptor, where);
      if (several) rate_limits(several, descriptor, where);

      if (const YAML::Node children = node["descriptors"]) {
        descriptors(children, descriptor.descriptors, where, descriptor.path, relative, depth + 1);
      }
      out.push_back(std::move(descriptor));
    }
  }

  bool flag(const YAML::Node& map, std::string_view where, std::string_view key) const {
    const YAML::Node node = map[std::string{key}];
    return node ? boolean(node, where, key) : false;
  }

  // The keys of one limit map, common to rate_limit and rate_limits' entries.
  LimitSpec limit_spec(const YAML::Node& map, std::string_view where, bool in_list) const {
    LimitSpec spec;
    if (const YAML::Node node = map["unlimited"]) {
      if (in_list) fail(where, "\"unlimited\" belongs in rate_limit, not rate_limits", node);
      spec.unlimited = boolean(node, where, "unlimited");
    }
    std::string unit_text;
    if (const YAML::Node node = map["unit"]) unit_text = string(node, where, "unit");
    const std::optional<Unit> unit = unit_named(unit_text);
    if (spec.unlimited) {
      // As upstream: a valid unit is refused, an invalid one ignored.
      if (unit) fail(where, "should not specify rate limit unit when unlimited", map["unit"]);
      for (std::string_view key : {"algorithm", "burst", "unit_multiplier"}) {
        if (const YAML::Node node = map[std::string{key}]) {
          fail(where, in_quotes(key) + " has no effect when unlimited", node);
        }
      }
    } else if (!unit) {
      fail(where, "invalid rate limit unit " + in_quotes(unit_text), map["unit"] ? map["unit"] : map);
    } else {
      spec.limit.unit = *unit;
    }
    // Upstream reads an absent requests_per_unit as 0: over the limit always.
    if (const YAML::Node node = map["requests_per_unit"]; node && !node.IsNull()) {
      spec.limit.requests_per_unit = integer(node, where, "requests_per_unit", 0, max_requests_per_unit);
    }
    if (const YAML::Node node = map["unit_multiplier"]) {
      spec.limit.unit_multiplier =
          integer(node, where, "unit_multiplier", 1, unit ? max_unit_multiplier(*unit) : max_requests_per_unit);
    }
    if (const YAML::Node node = map["burst"]) {
      spec.limit.burst = integer(node, where, "burst", 1, RateLimit::max_count);
      spec.burst_at = node;
    }
    if (const YAML::Node node = map["algorithm"]) {
      std::string algorithm = string(node, where, "algorithm");
      if (std::find(std::begin(algorithm_names), std::end(algorithm_names), algorithm) == std::end(algorithm_names)) {
        fail(where,
             "unknown algorithm " + in_quotes(algorithm) +
                 " (expected fixed-window, sliding-window, sliding-log, gcra, token-bucket or leaky-bucket)",
             node);
      }
      spec.algorithm = std::move(algorithm);
    }
    if (const YAML::Node node = map["name"]) spec.name = string(node, where, "name");
    if (const YAML::Node node = map["replaces"]) spec.replaces = replaces(node, where);
    for (const std::string& replaced : spec.replaces.value_or(std::vector<std::string>{})) {
      if (replaced.empty()) fail(where, "should not have an empty replaces entry", map["replaces"]);
      if (replaced == spec.name.value_or("")) {
        fail(where, "replaces should not contain name of same descriptor", map["replaces"]);
      }
    }
    return spec;
  }

  std::vector<std::string> replaces(const YAML::Node& list, std::string_view where) const {
    std::vector<std::string> names;
    if (list.IsNull()) return names;
    if (!list.IsSequence()) fail(where, "\"replaces\" must be a list of {name: ...}", list);
    for (const YAML::Node& entry : list) {
      if (!entry.IsMap()) fail(where, "config error, yaml file contains list of type other than map", entry);
      if (names.size() == max_replaces) {
        fail(where, "more than " + std::to_string(max_replaces) + " replaces entries", entry);
      }
      keys(entry, where, {"name"});
      const YAML::Node name = entry["name"];
      names.push_back(name ? string(name, where, "name") : std::string{});
    }
    return names;
  }

  void check_burst(const LimitSpec& spec, const std::string& algorithm, std::string_view where) const {
    if (spec.limit.burst && !is_bucket(algorithm)) {
      fail(where,
           "\"burst\" is only for the bucket family (gcra, token-bucket, leaky-bucket), not " + in_quotes(algorithm),
           spec.burst_at);
    }
  }

  void rate_limit(const YAML::Node& map, Descriptor& descriptor, std::string_view descriptor_where) const {
    if (map.IsNull()) return;  // as upstream: `rate_limit:` with nothing is no limit
    const std::string where = std::string{descriptor_where} + ", rate_limit";
    if (!map.IsMap()) fail(where, "must be a map", map);
    keys(map, where,
         {"unit", "requests_per_unit", "unlimited", "name", "replaces", "algorithm", "burst", "unit_multiplier"});
    LimitSpec spec = limit_spec(map, where, false);
    descriptor.name = spec.name.value_or("");
    descriptor.replaces = spec.replaces.value_or(std::vector<std::string>{});
    if (spec.unlimited) {
      descriptor.unlimited = true;
      return;
    }
    if (spec.algorithm) descriptor.algorithm = *spec.algorithm;
    check_burst(spec, descriptor.algorithm, where);
    descriptor.limits.push_back(spec.limit);
  }

  void rate_limits(const YAML::Node& list, Descriptor& descriptor, std::string_view descriptor_where) const {
    const std::string list_where = std::string{descriptor_where} + ", rate_limits";
    if (!list.IsSequence() || list.size() == 0 || list.size() > max_limits) {
      fail(list_where, "must be a list of 1 to " + std::to_string(max_limits) + " limits", list);
    }
    std::vector<LimitSpec> specs;
    std::optional<std::string> algorithm;
    bool named = false;
    bool replacing = false;
    std::size_t index = 0;
    for (const YAML::Node& map : list) {
      const std::string where = list_where + " #" + std::to_string(++index);
      if (!map.IsMap()) fail(where, "must be a map", map);
      keys(map, where,
           {"unit", "requests_per_unit", "unlimited", "name", "replaces", "algorithm", "burst", "unit_multiplier"},
           true);
      LimitSpec spec = limit_spec(map, where, true);
      if (spec.algorithm) {
        if (algorithm && *algorithm != *spec.algorithm) {
          fail(where,
               "the limits of rate_limits must share one algorithm, got " + in_quotes(*algorithm) + " and " +
                   in_quotes(*spec.algorithm),
               map["algorithm"]);
        }
        algorithm = spec.algorithm;
      }
      if (spec.name) {
        if (std::exchange(named, true)) fail(where, "\"name\" may be given on one entry of rate_limits only", map);
        descriptor.name = *spec.name;
      }
      if (spec.replaces) {
        if (std::exchange(replacing, true)) {
          fail(where, "\"replaces\" may be given on one entry of rate_limits only", map);
        }
        descriptor.replaces = *spec.replaces;
      }
      specs.push_back(std::move(spec));
    }
    // The name may sit on another entry than the replaces.
    for (const std::string& replaced : descriptor.replaces) {
      if (replaced == descriptor.name) fail(list_where, "replaces should not contain name of same descriptor", list);
    }
    if (algorithm) descriptor.algorithm = *algorithm;
    index = 0;
    for (const LimitSpec& spec : specs) {
      check_burst(spec, descriptor.algorithm, list_where + " #" + std::to_string(++index));
      descriptor.limits.push_back(spec.limit);
    }
  }

  std::string file_;
  std::string domain_;
  std::size_t count_ = 0;
  // Aliases can repeat a subtree many times over: the check of ignored
  // values visits this many nodes at most.
  mutable std::size_t ignored_nodes_ = 0;
};

// Upstream's wildcard: each '*' any run of characters, the rest literal.
bool wildcard_matches(std::string_view pattern, std::string_view value) {
  const std::size_t first = pattern.find('*');
  const std::size_t last = pattern.rfind('*');
  const std::string_view prefix = pattern.substr(0, first);
  const std::string_view suffix = pattern.substr(last + 1);
  const auto fixed =
      static_cast<std::size_t>(std::count_if(pattern.begin(), pattern.end(), [](char c) { return c != '*'; }));
  if (value.size() < fixed || !value.starts_with(prefix) || !value.ends_with(suffix)) return false;
  std::string_view rest = value.substr(prefix.size(), value.size() - prefix.size() - suffix.size());
  std::size_t at = first + 1;
  while (at <= last) {
    const std::size_t next = pattern.find('*', at);
    const std::string_view part = pattern.substr(at, next - at);
    const std::size_t found = rest.find(part);
    if (found == std::string_view::npos) return false;
    rest.remove_prefix(found + part.size());
    at = next + 1;
  }
  return true;
}

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code error;
  const std::string name = path.string();
  if (!std::filesystem::is_regular_file(path, error)) {
    throw ConfigError{name + ": cannot read: " + (error ? error.message() : std::string{"not a regular file"})};
  }
  std::ifstream in{path, std::ios::binary};
  if (!in) throw ConfigError{name + ": cannot read"};
  std::string text;
  std::array<char, 65536> buffer;
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    text.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_file_bytes) throw ConfigError{name + ": larger than 4 MiB"};
  }
  if (in.bad()) throw ConfigError{name + ": cannot read"};
  return text;
}

}  // namespace

Duration unit_duration(Unit unit) noexcept {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  switch (unit) {
    case Unit::second:
      return seconds{1};
    case Unit::minute:
      return minutes{1};
    case Unit::hour:
      return hours{1};
    case Unit::day:
      return hours{24};
    case Unit::week:
      return hours{24 * 7};
    case Unit::month:
      return hours{24 * 30};
    case Unit::year:
      return hours{24 * 365};
  }
  return seconds{1};
}

std::string_view unit_name(Unit unit) noexcept {
  switch (unit) {
    case Unit::second:
      return "second";
    case Unit::minute:
      return "minute";
    case Unit::hour:
      return "hour";
    case Unit::day:
      return "day";
    case Unit::week:
      return "week";
    case Unit::month:
      return "month";
    case Unit::year:
      return "year";
  }
  return "second";
}

RateLimit Limit::rate_limit() const {
  if (unit_multiplier < 1 || unit_multiplier > RateLimit::max_period / unit_duration(unit)) {
    throw RateError{"unit_multiplier " + std::to_string(unit_multiplier) + " is out of range"};
  }
  const RateLimit rate{requests_per_unit, unit_duration(unit) * unit_multiplier};
  return burst ? rate.with_burst(*burst) : rate;
}

Domain parse_envoy_yaml(std::string_view text, std::string_view file) { return Parser{file}.parse(text); }

std::vector<Domain> load_envoy_yaml(const std::string& path) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    std::filesystem::directory_iterator entries{path, error};
    if (error) throw ConfigError{path + ": cannot read: " + error.message()};
    for (const auto& entry : entries) {
      const std::string name = entry.path().filename().string();
      const std::string extension = entry.path().extension().string();
      if (name.starts_with('.') || (extension != ".yaml" && extension != ".yml")) continue;
      if (files.size() == max_directory_files) {
        throw ConfigError{path + ": more than " + std::to_string(max_directory_files) + " .yaml/.yml files"};
      }
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.filename().string() < b.filename().string(); });
  } else {
    files.emplace_back(path);
  }

  std::vector<Domain> domains;
  for (const auto& file : files) {
    Domain domain = parse_envoy_yaml(read_file(file), file.string());
    for (const Domain& earlier : domains) {
      if (earlier.name == domain.name) {
        throw ConfigError{domain.file + ": duplicate domain " + in_quotes(domain.name) + " (also in " + earlier.file +
                          ")"};
      }
    }
    domains.push_back(std::move(domain));
  }
  return domains;
}

Match match(const Domain& domain, std::span<const Entry> entries) {
  if (entries.empty()) return {};
  // The share_threshold pattern standing for entry i's value, if any.
  std::vector<const std::string*> shared(entries.size(), nullptr);
  const std::vector<Descriptor>* level = &domain.descriptors;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    const Descriptor* found = nullptr;
    for (const Descriptor& node : *level) {
      if (node.key == entry.key && !node.value.empty() && node.value == entry.value) {
        found = &node;
        break;
      }
    }
    if (found == nullptr) {
      for (const Descriptor& node : *level) {
        if (node.key == entry.key && node.value.find('*') != std::string::npos &&
            wildcard_matches(node.value, entry.value)) {
          found = &node;
          if (node.share_threshold) shared[i] = &node.value;
          break;
        }
      }
    }
    if (found == nullptr) {
      for (const Descriptor& node : *level) {
        if (node.key == entry.key && node.value.empty()) {
          found = &node;
          break;
        }
      }
    }
    if (found == nullptr) return {};
    if (i + 1 == entries.size()) {
      if (!found->has_limit()) return {};
      Match result;
      result.descriptor = found;
      for (std::size_t j = 0; j < entries.size(); ++j) {
        if (j > 0) result.counter_key.push_back('_');
        append_escaped(result.counter_key, entries[j].key);
        result.counter_key.push_back('_');
        append_escaped(result.counter_key, shared[j] != nullptr ? *shared[j] : entries[j].value);
      }
      return result;
    }
    if (found->descriptors.empty()) return {};
    level = &found->descriptors;
  }
  return {};
}

}  // namespace leaksnek::cli::envoy
