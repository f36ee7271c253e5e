// The checks the config tests share: a load refused with exactly one error that names the file
// (test.toml), the line, marks the place with a caret and gives a hint; a port that survives the
// TOML writer.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "config/config_toml.hpp"

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

// Port `name` of the loaded switch "sw0", written back as TOML and loaded again, is equal.
inline void expect_port_round_trips(const vs::config::LoadResult& r, const std::string& name) {
  ASSERT_TRUE(r.ok()) << vs::config::format_errors(r);
  const auto& port = *r.config->find_port(name);
  const std::string text = "[[switch]]\nname = \"sw0\"\n" + vs::config::port_table_toml(port);
  const vs::config::LoadResult again = vs::config::load_config_string(text, "again.toml");
  ASSERT_TRUE(again.ok()) << vs::config::format_errors(again) << text;
  EXPECT_EQ(*again.config->find_port(name), port);
}

}  // namespace vstest
