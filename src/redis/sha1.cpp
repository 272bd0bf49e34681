// SHA-1 (FIPS 180-4), only to name Lua scripts as Redis does.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <leaksnek/redis/session.hpp>

namespace leaksnek::redis {

namespace {

constexpr std::uint32_t rotl(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

void compress(std::array<std::uint32_t, 5>& h, const unsigned char* block) {
  std::array<std::uint32_t, 80> w{};
  for (int i = 0; i < 16; ++i) {
    w[i] = static_cast<std::uint32_t>(block[4 * i]) << 24 | static_cast<std::uint32_t>(block[4 * i + 1]) << 16 |
           static_cast<std::uint32_t>(block[4 * i + 2]) << 8 | static_cast<std::uint32_t>(block[4 * i + 3]);
  }
  for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; ++i) {
    std::uint32_t f = 0;
    std::uint32_t k = 0;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = t;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

}  // namespace

std::string sha1_hex(std::string_view data) {
  std::array<std::uint32_t, 5> h{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string padded{data};
  padded.push_back(static_cast<char>(0x80));
  while (padded.size() % 64 != 56) padded.push_back('\0');
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  for (int i = 7; i >= 0; --i) padded.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  for (std::size_t i = 0; i < padded.size(); i += 64) {
    compress(h, reinterpret_cast<const unsigned char*>(padded.data() + i));
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::uint32_t word : h) {
    for (int i = 7; i >= 0; --i) out.push_back(hex[(word >> (4 * i)) & 0xf]);
  }
  return out;
}

Script::Script(std::string text) : text_{std::move(text)}, sha1_{sha1_hex(text_)} {
  // The entry line: the last line, "return NAME(KEYS, ARGV)".
  std::string_view body{text_};
  while (body.ends_with('\n')) body.remove_suffix(1);
  const std::size_t start = body.rfind('\n') + 1;  // npos + 1 == 0: a one-line script
  std::string_view last = body.substr(start);
  constexpr std::string_view head = "return ", tail = "(KEYS, ARGV)";
  if (!last.starts_with(head) || !last.ends_with(tail) || last.size() <= head.size() + tail.size()) return;
  std::string_view entry = last.substr(head.size(), last.size() - head.size() - tail.size());
  function_ = "leaksnek_" + sha1_.substr(0, 20);
  library_.append("#!lua name=").append(function_).append("\n").append(body.substr(0, start));
  library_.append("redis.register_function('").append(function_).append("', function(keys, args) return ");
  library_.append(entry).append("(keys, args) end)\n");
}

}  // namespace leaksnek::redis
