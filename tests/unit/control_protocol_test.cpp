// Unit tests of the control socket's request parser (ctl/control_protocol.hpp): every command
// of the protocol, every refusal with its exact message, and the show filters as JSON.
#include "ctl/control_protocol.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace vs {
namespace {

using nlohmann::json;
using Cmd = ControlRequest::Cmd;

// Parses `text`, which must be accepted.
ControlRequest ok(const std::string& text) {
  std::string error;
  const std::optional<ControlRequest> r = parse_control_request(text, error);
  EXPECT_TRUE(r.has_value()) << text << " refused: " << error;
  return r.value_or(ControlRequest{});
}

// Parses `text`, which must be refused; returns the message.
std::string refused(const std::string& text) {
  std::string error;
  const std::optional<ControlRequest> r = parse_control_request(text, error);
  EXPECT_FALSE(r.has_value()) << text << " was accepted";
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

// ---- every command ---------------------------------------------------------------------------

TEST(ControlProtocol, ShowFdbWithAllFilters) {
  const ControlRequest r = ok(
      R"({"cmd": "show", "what": "fdb", "switch": "sw0", "vlan": 10, "mac": "02:00:00:00:00:01"})");
  EXPECT_EQ(r.cmd, Cmd::kShow);
  EXPECT_EQ(r.what, "fdb");
  EXPECT_EQ(r.switch_name, "sw0");
  EXPECT_EQ(r.vlan, 10);
  EXPECT_EQ(r.mac, "02:00:00:00:00:01");
  EXPECT_EQ(r.port, "");
  EXPECT_EQ(r.worker, -1);
  EXPECT_EQ(r.filters_json(), R"({"mac":"02:00:00:00:00:01","switch":"sw0","vlan":10})");
}

TEST(ControlProtocol, ShowEveryWhatWithoutFilters) {
  for (const char* what : {"switches", "ports", "queues", "workers", "fdb"}) {
    SCOPED_TRACE(what);
    const ControlRequest r = ok(std::string(R"({"cmd":"show","what":")") + what + "\"}");
    EXPECT_EQ(r.cmd, Cmd::kShow);
    EXPECT_EQ(r.what, what);
    EXPECT_EQ(r.switch_name, "");
    EXPECT_EQ(r.vlan, -1);
    EXPECT_EQ(r.mac, "");
    EXPECT_EQ(r.filters_json(), "{}");
  }
}

TEST(ControlProtocol, ShowFdbWithSomeFilters) {
  EXPECT_EQ(ok(R"({"cmd":"show","what":"fdb","vlan":4094})").filters_json(), R"({"vlan":4094})");
  EXPECT_EQ(ok(R"({"cmd":"show","what":"fdb","vlan":1})").vlan, 1);
  EXPECT_EQ(ok(R"({"cmd":"show","what":"fdb","switch":"sw1"})").filters_json(),
            R"({"switch":"sw1"})");
  EXPECT_EQ(ok(R"({"cmd":"show","what":"fdb","mac":"0a:0b:0c:0d:0e:0f"})").filters_json(),
            R"({"mac":"0a:0b:0c:0d:0e:0f"})");
  // An empty mac or switch is no filter.
  EXPECT_EQ(ok(R"({"cmd":"show","what":"fdb","mac":"","switch":""})").filters_json(), "{}");
}

TEST(ControlProtocol, MacIsLowerCased) {
  const ControlRequest r = ok(R"({"cmd":"show","what":"fdb","mac":"02:AB:cD:eF:00:0F"})");
  EXPECT_EQ(r.mac, "02:ab:cd:ef:00:0f");
  EXPECT_EQ(r.filters_json(), R"({"mac":"02:ab:cd:ef:00:0f"})");
  EXPECT_EQ(ok(R"({"cmd":"fdb_flush","mac":"FF:FF:FF:FF:FF:FF"})").mac, "ff:ff:ff:ff:ff:ff");
}

TEST(ControlProtocol, Reload) {
  const ControlRequest r = ok(R"({"cmd": "reload"})");
  EXPECT_EQ(r.cmd, Cmd::kReload);
  EXPECT_EQ(r.what, "");
  EXPECT_EQ(r.switch_name, "");
  EXPECT_EQ(r.port, "");
  EXPECT_EQ(r.vlan, -1);
  EXPECT_EQ(r.worker, -1);
}

TEST(ControlProtocol, Version) {
  const ControlRequest r = ok(R"({"cmd": "version"})");
  EXPECT_EQ(r.cmd, Cmd::kVersion);
  EXPECT_EQ(r.filters_json(), "{}");
}

TEST(ControlProtocol, PortAddKeepsThePortAsJson) {
  const ControlRequest r =
      ok(R"({"cmd": "port_add", "switch": "sw0", "port": {"name": "vm3", "queues": 2,)"
         R"( "addresses": ["10.0.0.3/24", "fd00::3/64"], "persist": true, "netns": "a\"b"}})");
  EXPECT_EQ(r.cmd, Cmd::kPortAdd);
  EXPECT_EQ(r.switch_name, "sw0");
  const json port = json::parse(r.port);
  EXPECT_EQ(port, json::parse(R"({"name": "vm3", "queues": 2, "persist": true, "netns": "a\"b",
                                  "addresses": ["10.0.0.3/24", "fd00::3/64"]})"));
  EXPECT_EQ(port["netns"].get<std::string>(), "a\"b");
  EXPECT_EQ(ok(R"({"cmd":"port_add","switch":"sw0","port":{}})").port, "{}");
}

TEST(ControlProtocol, PortDel) {
  const ControlRequest r = ok(R"({"cmd": "port_del", "port": "vm3"})");
  EXPECT_EQ(r.cmd, Cmd::kPortDel);
  EXPECT_EQ(r.port, "vm3");
}

TEST(ControlProtocol, MirrorAddDelAndShow) {
  ControlRequest r = ok(R"({"cmd": "mirror_add", "switch": "sw0", "mirror": {"name": "m1",
                            "source_ports": ["vm1"], "source_vlans": [10], "output": "span"}})");
  EXPECT_EQ(r.cmd, Cmd::kMirrorAdd);
  EXPECT_EQ(r.switch_name, "sw0");
  EXPECT_EQ(json::parse(r.mirror), json::parse(R"({"name": "m1", "source_ports": ["vm1"],
                                                   "source_vlans": [10], "output": "span"})"));
  r = ok(R"({"cmd": "mirror_del", "mirror": "m1"})");
  EXPECT_EQ(r.cmd, Cmd::kMirrorDel);
  EXPECT_EQ(r.mirror, "m1");
  EXPECT_EQ(ok(R"({"cmd": "show", "what": "mirrors"})").what, "mirrors");
  EXPECT_EQ(refused(R"({"cmd": "mirror_add", "mirror": {"name": "m1"}})"),
            "mirror_add needs \"switch\" (a name) and \"mirror\" (an object)");
  EXPECT_EQ(refused(R"({"cmd": "mirror_add", "switch": "sw0", "mirror": "m1"})"),
            "mirror_add needs \"switch\" (a name) and \"mirror\" (an object)");
  EXPECT_EQ(refused(R"({"cmd": "mirror_del"})"), "mirror_del needs \"mirror\" (a name)");
  EXPECT_EQ(refused(R"({"cmd": "mirror_del", "mirror": 3})"), "\"mirror\" must be a string");
}

TEST(ControlProtocol, PortReset) {
  const ControlRequest r = ok(R"({"cmd": "port_reset", "port": "vm2"})");
  EXPECT_EQ(r.cmd, Cmd::kPortReset);
  EXPECT_EQ(r.port, "vm2");
}

TEST(ControlProtocol, PortResetNeedsAPortName) {
  EXPECT_EQ(refused(R"({"cmd": "port_reset"})"), "port_reset needs \"port\" (a name)");
  EXPECT_EQ(refused(R"({"cmd": "port_reset", "port": ""})"), "port_reset needs \"port\" (a name)");
  EXPECT_EQ(refused(R"({"cmd": "port_reset", "port": 3})"), "\"port\" must be a string");
}

TEST(ControlProtocol, WorkerRestart) {
  const ControlRequest r = ok(R"({"cmd": "worker_restart", "worker": 0})");
  EXPECT_EQ(r.cmd, Cmd::kWorkerRestart);
  EXPECT_EQ(r.worker, 0);
  EXPECT_EQ(ok(R"({"cmd": "worker_restart", "worker": 15})").worker, 15);
}

TEST(ControlProtocol, FdbFlushWithAndWithoutFilters) {
  const ControlRequest all = ok(R"({"cmd": "fdb_flush"})");
  EXPECT_EQ(all.cmd, Cmd::kFdbFlush);
  EXPECT_EQ(all.switch_name, "");
  EXPECT_EQ(all.port, "");
  EXPECT_EQ(all.vlan, -1);
  const ControlRequest r =
      ok(R"({"cmd": "fdb_flush", "switch": "sw0", "port": "vm1", "vlan": 10})");
  EXPECT_EQ(r.cmd, Cmd::kFdbFlush);
  EXPECT_EQ(r.switch_name, "sw0");
  EXPECT_EQ(r.port, "vm1");
  EXPECT_EQ(r.vlan, 10);
  EXPECT_EQ(ok(R"({"cmd": "fdb_flush", "vlan": 7})").vlan, 7);
}

TEST(ControlProtocol, WhitespaceAndKeyOrderDoNotMatter) {
  const ControlRequest r = ok(" \t{ \"vlan\" : 3 ,\n \"what\":\"fdb\", \"cmd\":\"show\" }\r\n ");
  EXPECT_EQ(r.cmd, Cmd::kShow);
  EXPECT_EQ(r.vlan, 3);
}

TEST(ControlProtocol, FiltersJsonEscapesAndDefaults) {
  EXPECT_EQ(ControlRequest{}.filters_json(), "{}");
  ControlRequest r;
  r.switch_name = "a\"b\\c\n";
  r.vlan = 0;
  const json f = json::parse(r.filters_json());
  EXPECT_EQ(f, (json{{"switch", "a\"b\\c\n"}, {"vlan", 0}}));
  // Only the show filters: not the port, worker or what.
  ControlRequest p = ok(R"({"cmd": "fdb_flush", "switch": "sw0", "port": "vm1", "vlan": 10})");
  EXPECT_EQ(p.filters_json(), R"({"switch":"sw0","vlan":10})");
}

// ---- refusals --------------------------------------------------------------------------------

TEST(ControlProtocol, NotJsonOrNotAnObjectIsRefused) {
  const std::string kNotObject = "the request is not a JSON object";
  for (const char* text :
       {"", " ", "show", "{", "{\"cmd\": \"show\"", "{'cmd': 'version'}",
        "{\"cmd\": \"version\"} trailing", "{\"cmd\":\"version\"}{}", "{\"cmd\": \"version\",}",
        "[]", "[{\"cmd\":\"version\"}]", "42", "\"version\"", "null", "true"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(refused(text), kNotObject);
  }
  // Invalid UTF-8 inside a string.
  EXPECT_EQ(refused("{\"cmd\": \"vers\xff\xfeion\"}"), kNotObject);
}

TEST(ControlProtocol, MissingCommandIsRefused) {
  EXPECT_EQ(refused("{}"), "the request has no \"cmd\"");
  EXPECT_EQ(refused(R"({"what": "fdb"})"), "the request has no \"cmd\"");
  EXPECT_EQ(refused(R"({"cmd": ""})"), "the request has no \"cmd\"");
}

TEST(ControlProtocol, UnknownCommandIsRefused) {
  EXPECT_EQ(refused(R"({"cmd": "shutdown"})"), "unknown command \"shutdown\"");
  EXPECT_EQ(refused(R"({"cmd": "SHOW"})"), "unknown command \"SHOW\"");
  EXPECT_EQ(refused(R"({"cmd": "show "})"), "unknown command \"show \"");
}

TEST(ControlProtocol, WrongTypesAreRefused) {
  EXPECT_EQ(refused(R"({"cmd": 1})"), "\"cmd\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": ["show"]})"), "\"cmd\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": null})"), "\"cmd\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": 1})"), "\"what\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "vlan": "10"})"),
            "\"vlan\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "vlan": 10.0})"),
            "\"vlan\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "vlan": 1e1})"),
            "\"vlan\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "vlan": true})"),
            "\"vlan\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "vlan": null})"),
            "\"vlan\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "switch": 0})"),
            "\"switch\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "fdb", "mac": ["02:00:00:00:00:01"]})"),
            "\"mac\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "fdb_flush", "port": 3})"), "\"port\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "fdb_flush", "vlan": "all"})"), "\"vlan\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "port_del", "port": {"name": "vm3"}})"),
            "\"port\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "port_add", "switch": 1, "port": {}})"),
            "\"switch\" must be a string");
  EXPECT_EQ(refused(R"({"cmd": "worker_restart", "worker": "0"})"),
            "\"worker\" must be an integer");
  EXPECT_EQ(refused(R"({"cmd": "worker_restart", "worker": 0.5})"),
            "\"worker\" must be an integer");
}

TEST(ControlProtocol, VlanOutsideOneTo4094IsRefused) {
  for (const char* vlan : {"0", "4095", "4096", "65535"}) {
    SCOPED_TRACE(vlan);
    EXPECT_EQ(refused(std::string(R"({"cmd":"show","what":"fdb","vlan":)") + vlan + "}"),
              "\"vlan\" must be 1..4094");
    EXPECT_EQ(refused(std::string(R"({"cmd":"fdb_flush","vlan":)") + vlan + "}"),
              "\"vlan\" must be 1..4094");
  }
  // Outside what any integer field takes (0..65535) the message is another one.
  for (const char* vlan :
       {"-1", "65536", "2147483648", "-9223372036854775808", "18446744073709551615"}) {
    SCOPED_TRACE(vlan);
    EXPECT_EQ(refused(std::string(R"({"cmd":"show","what":"fdb","vlan":)") + vlan + "}"),
              "\"vlan\" is out of range");
  }
}

TEST(ControlProtocol, WorkerOutOfRangeIsRefused) {
  EXPECT_EQ(refused(R"({"cmd":"worker_restart","worker":-1})"), "\"worker\" is out of range");
  EXPECT_EQ(refused(R"({"cmd":"worker_restart","worker":65536})"), "\"worker\" is out of range");
  EXPECT_EQ(refused(R"({"cmd":"worker_restart","worker":18446744073709551615})"),
            "\"worker\" is out of range");
}

TEST(ControlProtocol, BadMacIsRefused) {
  for (const char* mac :
       {"02:00:00:00:00", "02:00:00:00:00:01:", "02-00-00-00-00-01", "0g:00:00:00:00:01",
        "02:00:00:00:00:0", "2:00:00:00:00:001", "02:00:00:00:00:01 ", " 02:00:00:00:00:01",
        "020000000001", "02:00:00:00:00:0x", "02::00:00:00:00:1", "x"}) {
    SCOPED_TRACE(mac);
    EXPECT_EQ(refused(std::string(R"({"cmd":"show","what":"fdb","mac":")") + mac + "\"}"),
              "\"mac\" must look like 02:00:00:00:00:01");
    EXPECT_EQ(refused(std::string(R"({"cmd":"fdb_flush","mac":")") + mac + "\"}"),
              "\"mac\" must look like 02:00:00:00:00:01");
  }
}

TEST(ControlProtocol, ShowNeedsAKnownWhat) {
  const std::string kWhat =
      "\"what\" must be one of switches, ports, queues, workers, fdb, mirrors";
  EXPECT_EQ(refused(R"({"cmd": "show"})"), kWhat);
  EXPECT_EQ(refused(R"({"cmd": "show", "what": ""})"), kWhat);
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "macs"})"), kWhat);
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "FDB"})"), kWhat);
  EXPECT_EQ(refused(R"({"cmd": "show", "what": "port"})"), kWhat);
}

TEST(ControlProtocol, PortAddNeedsASwitchAndAPortObject) {
  const std::string kNeeds = "port_add needs \"switch\" (a name) and \"port\" (an object)";
  EXPECT_EQ(refused(R"({"cmd": "port_add", "switch": "sw0"})"), kNeeds);
  EXPECT_EQ(refused(R"({"cmd": "port_add", "switch": "sw0", "port": "vm3"})"), kNeeds);
  EXPECT_EQ(refused(R"({"cmd": "port_add", "switch": "sw0", "port": ["vm3"]})"), kNeeds);
  EXPECT_EQ(refused(R"({"cmd": "port_add", "switch": "sw0", "port": null})"), kNeeds);
  EXPECT_EQ(refused(R"({"cmd": "port_add", "port": {"name": "vm3"}})"), kNeeds);
  EXPECT_EQ(refused(R"({"cmd": "port_add", "switch": "", "port": {"name": "vm3"}})"), kNeeds);
  EXPECT_EQ(refused(R"({"cmd": "port_add"})"), kNeeds);
}

TEST(ControlProtocol, PortDelNeedsAPort) {
  EXPECT_EQ(refused(R"({"cmd": "port_del"})"), "port_del needs \"port\" (a name)");
  EXPECT_EQ(refused(R"({"cmd": "port_del", "port": ""})"), "port_del needs \"port\" (a name)");
}

TEST(ControlProtocol, WorkerRestartNeedsAWorker) {
  EXPECT_EQ(refused(R"({"cmd": "worker_restart"})"), "worker_restart needs \"worker\" (a number)");
}

TEST(ControlProtocol, RequestsUpTo64KiBAreRead) {
  std::string text = R"({"cmd": "port_del", "port": "vm3"})";
  text.resize(kMaxControlRequest, ' ');  // JSON allows trailing white space
  EXPECT_EQ(ok(text).port, "vm3");
  text += ' ';
  EXPECT_EQ(refused(text), "request larger than 64 KiB");
  EXPECT_EQ(refused(std::string(1 << 20, '{')), "request larger than 64 KiB");
  EXPECT_EQ(kMaxControlRequest, 65536u);
}

TEST(ControlProtocol, LargePortObjectIsKept) {
  // A port object close to the limit, with a long string and many keys.
  json port = {{"name", "vm3"}, {"netns", std::string(30000, 'n')}};
  for (int i = 0; i < 1000; ++i) port["k" + std::to_string(i)] = i;
  const std::string text = json{{"cmd", "port_add"}, {"switch", "sw0"}, {"port", port}}.dump();
  ASSERT_LE(text.size(), kMaxControlRequest);
  EXPECT_EQ(json::parse(ok(text).port), port);
}

TEST(ControlProtocol, DeepNestingIsRefusedBeforeParsing) {
  // 20000 levels fit in 64 KiB; the JSON library would recurse once per level (found by
  // fuzzing: a stack overflow when the port object was printed).
  const std::string deep = R"({"cmd":"port_add","switch":"s","port":{"a":)" +
                           std::string(20000, '[') + std::string(20000, ']') + "}}";
  EXPECT_EQ(refused(deep), "the request is nested more than 16 levels deep");
  // Brackets inside strings do not count; 16 levels are fine.
  EXPECT_EQ(ok(R"({"cmd":"port_del","port":"[[[[[[[[[[[[[[[[[[[[[["})").port,
            "[[[[[[[[[[[[[[[[[[[[[[");
  std::string sixteen = R"({"cmd":"port_add","switch":"s","port":{"a":)" + std::string(14, '[') +
                        std::string(14, ']') + "}}";
  EXPECT_EQ(ok(sixteen).cmd, ControlRequest::Cmd::kPortAdd);
}

TEST(ControlProtocol, NulByteIsRefused) {
  std::string text = R"({"cmd":"version"})";
  text += '\0';
  text += "garbage";
  EXPECT_EQ(refused(text), "the request contains a NUL byte");
}

// ---- capture ---------------------------------------------------------------------------------

TEST(ControlProtocol, CaptureWithEveryField) {
  ControlRequest r = ok(R"({"cmd":"capture","ports":["vm1","vm2"],"direction":"out","count":100,)"
                        R"("duration_ms":5000,"snaplen":128,"filter":"icmp or arp"})");
  EXPECT_EQ(r.cmd, Cmd::kCapture);
  EXPECT_EQ(r.capture.ports, (std::vector<std::string>{"vm1", "vm2"}));
  EXPECT_EQ(r.capture.directions, 2);
  EXPECT_EQ(r.capture.count, 100u);
  EXPECT_EQ(r.capture.duration_ms, 5000u);
  EXPECT_EQ(r.capture.snaplen, 128u);
  EXPECT_EQ(r.capture.filter, "icmp or arp");
}

TEST(ControlProtocol, CaptureDefaults) {
  ControlRequest r = ok(R"({"cmd":"capture","ports":["vm1"]})");
  EXPECT_EQ(r.capture.directions, 3);
  EXPECT_EQ(r.capture.count, 0u);
  EXPECT_EQ(r.capture.duration_ms, 0u);
  EXPECT_EQ(r.capture.snaplen, kMaxCaptureSnaplen);
  EXPECT_EQ(r.capture.filter, "");
}

TEST(ControlProtocol, CaptureRefusals) {
  EXPECT_EQ(refused(R"({"cmd":"capture"})"), "capture needs \"ports\": 1 to 64 port names");
  EXPECT_EQ(refused(R"({"cmd":"capture","ports":[]})"),
            "capture needs \"ports\": 1 to 64 port names");
  EXPECT_EQ(refused(R"({"cmd":"capture","ports":[1]})"),
            "\"ports\" must hold port names (strings)");
  EXPECT_EQ(refused(R"({"cmd":"capture","ports":["a"],"direction":"sideways"})"),
            "\"direction\" must be in, out or both");
  EXPECT_EQ(refused(R"({"cmd":"capture","ports":["a"],"count":-1})"),
            "\"count\" must be an integer from 0 to 4294967295");
  EXPECT_EQ(refused(R"({"cmd":"capture","ports":["a"],"snaplen":0})"),
            "\"snaplen\" must be at least 1");
  EXPECT_EQ(refused(R"({"cmd":"capture","ports":["a"],"snaplen":262145})"),
            "\"snaplen\" must be an integer from 0 to 262144");
  EXPECT_EQ(
      refused(R"({"cmd":"capture","ports":["a"],"filter":")" + std::string(4097, 'x') + R"("})"),
      "\"filter\" is longer than 4096 bytes");
}

}  // namespace
}  // namespace vs
