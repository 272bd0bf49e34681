// A 16-byte compare-and-swap, for states of two words (GCRA's arrival time,
// the fixed window's window and count): one key decided from many cores then
// costs what a one-word compare-and-swap loop costs, with no lock taken and
// released around the step while other cores wait for its line.
//
// x86-64 only (lock cmpxchg16b, which every x86-64 processor since 2006 has),
// written in assembly so that users need neither -mcx16 nor libatomic; other
// targets keep the per-key lock (has_cas16 is false there), as does a build
// with LEAKSNEK_NO_CAS16 defined (to measure one against the other).
#pragma once

#include <atomic>
#include <cstdint>

namespace leaksnek::detail {

// Two words, aligned as cmpxchg16b requires.
struct alignas(16) Words {
  std::uint64_t word[2];
};

// Loads both words with two relaxed loads: the pair may be torn (one word
// from before a concurrent swap, one from after); a compare-and-swap from it
// then fails and loads the true pair, so a torn pair is never acted on.
inline Words load_words(Words& words) noexcept {
  return {{std::atomic_ref<std::uint64_t>{words.word[0]}.load(std::memory_order_relaxed),
           std::atomic_ref<std::uint64_t>{words.word[1]}.load(std::memory_order_relaxed)}};
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LEAKSNEK_NO_CAS16)
inline constexpr bool has_cas16 = true;

// Replaces `target` by `desired` if it equals `expected` and returns true;
// otherwise loads it into `expected` and returns false. A full barrier either
// way. Invisible to ThreadSanitizer, which sees the loads above as atomic.
inline bool cas16(Words& target, Words& expected, const Words& desired) noexcept {
  bool swapped = false;
  asm volatile("lock cmpxchg16b %1"
               : "=@ccz"(swapped), "+m"(target), "+a"(expected.word[0]), "+d"(expected.word[1])
               : "b"(desired.word[0]), "c"(desired.word[1])
               : "memory");
  return swapped;
}
#else
inline constexpr bool has_cas16 = false;
inline bool cas16(Words&, Words&, const Words&) noexcept { return false; }  // never called
#endif

}  // namespace leaksnek::detail
