// expect_error: run a callable that must throw promoe::Error whose message names every given piece.
#pragma once
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace promoe::test {

inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& pieces) {
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
}

}  // namespace promoe::test
