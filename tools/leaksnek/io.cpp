#include "io.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

namespace leaksnek::cli {

bool LineReader::next(std::string_view& line) {
  if (fd_ < 0) {
    if (memory_.empty()) return false;
    std::size_t newline = memory_.find('\n');
    line = memory_.substr(0, newline);
    memory_.remove_prefix(newline == std::string_view::npos ? memory_.size() : newline + 1);
    return true;
  }
  for (;;) {
    const char* start = buffer_.data() + begin_;
    if (const void* newline = std::memchr(start, '\n', end_ - begin_)) {
      std::size_t length = static_cast<const char*>(newline) - start;
      line = {start, length};
      begin_ += length + 1;
      return true;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      line = {start, end_ - begin_};
      begin_ = end_;
      return true;
    }
    if (!refill()) eof_ = true;
  }
}

bool LineReader::refill() {
  if (begin_ > 0) {  // keep the partial line at the front
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a line longer than the buffer
  for (;;) {
    ssize_t got = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (got > 0) {
      end_ += static_cast<std::size_t>(got);
      return true;
    }
    if (got == 0) return false;
    if (errno != EINTR) throw std::system_error{errno, std::generic_category(), "read"};
  }
}

void Output::append_int(long long value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  buffer_.append(digits, result.ptr);
}

void Output::flush() {
  if (mode_ == Mode::keep) return;
  if (mode_ == Mode::write && !buffer_.empty()) {
    bool written = std::fwrite(buffer_.data(), 1, buffer_.size(), file_) == buffer_.size();
    if (std::fflush(file_) != 0 || !written) {
      int error = errno;
      buffer_.clear();
      throw std::system_error{error, std::generic_category(), "cannot write the output"};
    }
  }
  bytes_ += buffer_.size();
  buffer_.clear();
}

}  // namespace leaksnek::cli
