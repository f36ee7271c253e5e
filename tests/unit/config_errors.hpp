// The checks the config tests share: a load refused with exactly one error that names the file
// (test.toml), the line, marks the place with a caret and gives a hint.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace vstest {

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// `r` has one error, about `line`, containing `message` and (if not empty) `hint`.
inline void expect_one_located_error(const vs::config::LoadResult& r, const std::string& input,
                                     int line, const std::string& message,
                                     const std::string& hint = {}) {
  ASSERT_EQ(r.errors.size(), 1u) << input << vs::config::format_errors(r);
  const std::string& e = r.errors[0];
  EXPECT_TRUE(contains(e, message)) << e;
  EXPECT_TRUE(contains(e, " " + std::to_string(line) + " | ")) << e;
  EXPECT_TRUE(contains(e, "test.toml")) << e;
  EXPECT_TRUE(contains(e, "^") || contains(e, "~")) << e;
  EXPECT_TRUE(contains(e, "Hint: ") && contains(e, hint)) << e;
}

}  // namespace vstest
