// hiredis replies copied into Reply (shared by the sync and async clients).
#pragma once

#include <hiredis/hiredis.h>

#include <leaksnek/redis/client.hpp>

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

}  // namespace leaksnek::redis::detail
