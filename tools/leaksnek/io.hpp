// Buffered line input and byte output for the command line: large reads and
// writes, no per-line allocation, no iostreams on the hot path.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace leaksnek::cli {

// Reads lines from a file descriptor, or from memory. next() returns false at
// the end; a line excludes its '\n' and stays valid until the next call.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_{fd} { buffer_.resize(1 << 20); }
  explicit LineReader(std::string_view memory) : fd_{-1}, memory_{memory} {}

  bool next(std::string_view& line);

 private:
  bool refill();

  int fd_;
  std::string_view memory_;  // the whole input when reading from memory
  std::string buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
};

// Collects output in a buffer and writes it to a FILE* in large pieces; with
// no FILE*, keeps everything (for tests) unless told to discard (benchmarks).
class Output {
 public:
  enum class Mode { write, keep, discard };
  explicit Output(std::FILE* file) : file_{file}, mode_{Mode::write} {}
  explicit Output(Mode mode) : mode_{mode} {}
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  // Flush before destruction to see write errors; the destructor drops them.
  ~Output() {
    try {
      flush();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
  }

  void append(std::string_view text) {
    buffer_.append(text);
    if (buffer_.size() >= (1 << 16) && mode_ != Mode::keep) flush();
  }
  void append(char c) { buffer_.push_back(c); }
  void append_int(long long value);

  // Writes what is buffered (write mode) or drops it (discard mode). Throws
  // std::system_error when the write fails (a full disk, a closed pipe).
  void flush();
  // Everything appended so far (keep mode).
  [[nodiscard]] const std::string& kept() const noexcept { return buffer_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_ + buffer_.size(); }

 private:
  std::FILE* file_ = nullptr;
  Mode mode_;
  std::string buffer_;
  std::size_t bytes_ = 0;
};

}  // namespace leaksnek::cli
