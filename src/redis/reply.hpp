// What the sync and async clients share over hiredis.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <cerrno>

#include <leaksnek/redis/session.hpp>

namespace leaksnek::redis::detail {

inline Reply copy_reply(const redisReply& from) {
  Reply to;
  switch (from.type) {
    case REDIS_REPLY_STRING:
      to.type = Reply::Type::string;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_STATUS:
      to.type = Reply::Type::status;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_ERROR:
      to.type = Reply::Type::error;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_INTEGER:
      to.type = Reply::Type::integer;
      to.integer = from.integer;
      break;
    case REDIS_REPLY_ARRAY:
      to.type = Reply::Type::array;
      to.elements.reserve(from.elements);
      for (std::size_t i = 0; i < from.elements; ++i) to.elements.push_back(copy_reply(*from.element[i]));
      break;
    default:
      to.type = Reply::Type::nil;
  }
  return to;
}

// True when the peer closed an idle connection (a restart, an idle timeout)
// or it broke: reading would give end of file or an error rather than block.
inline bool closed_by_peer(int fd) {
  char byte = 0;
  ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);  // data on an idle connection is no better
}

}  // namespace leaksnek::redis::detail
