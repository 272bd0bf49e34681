// Exclusion for data that is read on every call and changed rarely (a hash
// map whose keys are looked up on every decision and inserted once), built
// so that a reader writes no cache line but its own thread's.
//
// A reader announces what it reads in its thread's own record (one store and
// a full fence), then checks that no writer is active (a load of a line that
// only writers change). A writer takes a lock, raises its flag and waits until
// no record names what it guards. A shared reader-writer lock would make every
// reader write the lock's line, which is what stops a table from scaling with
// cores: two cores deciding on different keys would pass that line back and
// forth on every decision.
//
// Costs: a read is a thread_local access, a sequentially consistent store
// (xchg on x86) and a release store. A write waits for current readers and
// scans every thread record ever made (O(threads)). Readers that find a
// writer active do not wait for it here: they fall back to taking the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include <leaksnek/detail/spin_lock.hpp>

namespace leaksnek::detail {

// One per thread that ever read: what it reads now (nullptr when nothing).
// Records are kept for the life of the process and reused by later threads.
struct alignas(128) ReaderRecord {
  std::atomic<const void*> reading{nullptr};
  std::atomic<bool> owned{true};
  ReaderRecord* next = nullptr;
};

inline std::atomic<ReaderRecord*>& reader_records() {
  static std::atomic<ReaderRecord*> head{nullptr};
  return head;
}

// The list's head is read and written sequentially consistently: a writer
// reads it after raising its flag, and a reader's first announcement must come
// after its record is in the list in that one order, or the writer could walk
// a list without it (store buffering, which x86 forbids but POWER and ARM
// allow).
inline ReaderRecord* claim_reader_record() {
  std::atomic<ReaderRecord*>& head = reader_records();
  for (ReaderRecord* record = head.load(std::memory_order_seq_cst); record != nullptr; record = record->next) {
    bool owned = false;
    if (!record->owned.load(std::memory_order_relaxed) &&
        record->owned.compare_exchange_strong(owned, true, std::memory_order_acquire)) {
      return record;
    }
  }
  auto* record = new ReaderRecord;  // reachable from the list for the life of the process
  record->next = head.load(std::memory_order_seq_cst);
  while (!head.compare_exchange_weak(record->next, record, std::memory_order_seq_cst, std::memory_order_seq_cst)) {
  }
  return record;
}

// Set when this thread's record was released at its exit: a destructor that
// runs later (another thread_local's, or a static's on the main thread) and
// still decides gets a record of its own that is never released.
inline thread_local bool reader_released = false;

// This thread's record, claimed on first use and released at thread exit.
// The common case is one load of a plain thread_local pointer (no guard).
[[gnu::noinline]] inline ReaderRecord& claim_this_thread_reader(ReaderRecord*& cached) {
  if (reader_released) {
    cached = claim_reader_record();
    return *cached;
  }
  struct Owner {
    ReaderRecord* record = claim_reader_record();
    ReaderRecord*& cached;
    explicit Owner(ReaderRecord*& cache) : cached{cache} { cached = record; }
    Owner(const Owner&) = delete;
    Owner& operator=(const Owner&) = delete;
    ~Owner() {
      cached = nullptr;
      reader_released = true;
      record->reading.store(nullptr, std::memory_order_release);
      record->owned.store(false, std::memory_order_release);
    }
  };
  thread_local Owner owner{cached};
  return *owner.record;
}
inline ReaderRecord& this_thread_reader() {
  thread_local ReaderRecord* cached = nullptr;
  if (cached != nullptr) [[likely]]
    return *cached;
  return claim_this_thread_reader(cached);
}

class ReadMostly {
 public:
  // Starts a read; false when a writer is active (then nothing was started:
  // take the lock instead). The reader must not block while reading.
  [[nodiscard]] bool try_read(ReaderRecord& reader) const noexcept {
    reader.reading.store(this, std::memory_order_seq_cst);
    if (!writing_.load(std::memory_order_seq_cst)) [[likely]]
      return true;
    reader.reading.store(nullptr, std::memory_order_release);
    return false;
  }
  static void end_read(ReaderRecord& reader) noexcept { reader.reading.store(nullptr, std::memory_order_release); }

  // Exclusive access: no reader reads while it is held.
  void lock() noexcept {
    lock_.lock();
    writing_.store(true, std::memory_order_seq_cst);
    for (ReaderRecord* record = reader_records().load(std::memory_order_seq_cst); record != nullptr;
         record = record->next) {
      for (int spins = 0; record->reading.load(std::memory_order_seq_cst) == this; ++spins) spin_wait(spins);
    }
  }
  void unlock() noexcept {
    writing_.store(false, std::memory_order_release);
    lock_.unlock();
  }

 private:
  std::atomic<bool> writing_{false};
  SpinLock lock_;
};

// Ends a read at scope exit, so that an exception from the reader's work
// cannot leave a writer waiting for ever.
class ReadGuard {
 public:
  explicit ReadGuard(ReaderRecord& reader) noexcept : reader_{reader} {}
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
  ~ReadGuard() { ReadMostly::end_read(reader_); }

 private:
  ReaderRecord& reader_;
};

// A per-item lock word for items reached under a read: bit 0 is the lock,
// the other 63 bits a stamp the holder leaves on unlock (the table's recency
// for its sweeps and its key cap), so that unlocking and stamping are one
// store to the item's own line.
class StampedLock {
 public:
  StampedLock() = default;
  // Copies move with the map's items, only under exclusive access.
  StampedLock(const StampedLock& other) noexcept : word_{other.word_.load(std::memory_order_relaxed)} {}
  StampedLock& operator=(const StampedLock& other) noexcept {
    word_.store(other.word_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }

  void lock() noexcept {
    std::uint64_t word = word_.load(std::memory_order_relaxed);
    if ((word & 1) == 0 &&
        word_.compare_exchange_weak(word, word | 1, std::memory_order_acquire, std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_contended();
  }
  void unlock(std::uint64_t stamp) noexcept { word_.store(stamp << 1, std::memory_order_release); }

  // For an item updated without the lock (a compare-and-swap on its state):
  // sets the stamp, writing the line only when the stamp changed.
  void touch(std::uint64_t stamp) noexcept {
    if (word_.load(std::memory_order_relaxed) != stamp << 1) word_.store(stamp << 1, std::memory_order_relaxed);
  }

  // Under exclusive access (no holder): the last stamp, and setting it.
  [[nodiscard]] std::uint64_t stamp() const noexcept { return word_.load(std::memory_order_relaxed) >> 1; }
  void set_stamp(std::uint64_t stamp) noexcept { word_.store(stamp << 1, std::memory_order_relaxed); }

 private:
  [[gnu::noinline]] void lock_contended() noexcept {
    for (int spins = 0;; ++spins) {
      std::uint64_t word = word_.load(std::memory_order_relaxed);
      if ((word & 1) == 0 &&
          word_.compare_exchange_weak(word, word | 1, std::memory_order_acquire, std::memory_order_relaxed)) {
        return;
      }
      spin_wait(spins);
    }
  }

  std::atomic<std::uint64_t> word_{0};
};

}  // namespace leaksnek::detail
