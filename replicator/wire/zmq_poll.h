// zmq_poll that a signal cannot turn into an exception: cppzmq throws on
// EINTR, and drvault installs SIGINT/SIGTERM handlers, so every loop polls
// through this and sees "nothing ready" instead.
#pragma once

#include <chrono>
#include <zmq.hpp>

namespace dr {

inline int PollQuietly(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout) {
  int rc = zmq_poll(items, static_cast<int>(n), static_cast<long>(timeout.count()));
  if (rc < 0) {
    for (size_t i = 0; i < n; ++i) items[i].revents = 0;
    return 0;
  }
  return rc;
}

}  // namespace dr
