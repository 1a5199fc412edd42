// expect_error: run a callable that must throw promoe::Error whose message names every given piece;
// expect_one_line_error: the same, and the message is one line.
#pragma once
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace promoe::test {

// Returns the message.
inline std::string expect_error(const std::function<void()>& f, const std::vector<std::string>& pieces) {
  std::string msg;
  try {
    f();
  } catch (const Error& e) {
    msg = e.what();
  }
  CAPTURE(msg);
  REQUIRE_MESSAGE(!msg.empty(), "no promoe::Error thrown");
  for (const std::string& p : pieces) {
    CAPTURE(p);
    CHECK(msg.find(p) != std::string::npos);
  }
  return msg;
}

inline void expect_one_line_error(const std::function<void()>& f, const std::vector<std::string>& pieces) {
  const std::string msg = expect_error(f, pieces);
  CAPTURE(msg);
  CHECK(msg.find('\n') == std::string::npos);
}

}  // namespace promoe::test
