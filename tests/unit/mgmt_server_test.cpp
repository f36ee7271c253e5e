// The management sockets' server (daemon/bounded_server.hpp) as it runs in vswitchd, on real
// sockets in this process: request deadlines, the size limit, the connection cap with eviction
// and refusal, a slow reply that delays no one else, and the HTTP framing of the metrics endpoint.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <condition_variable>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/bounded_server.hpp"
#include "daemon/control_server.hpp"
#include "daemon/metrics_http.hpp"

namespace vs {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int fd_count() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// Reads until the peer closes or `within` passes; returns what came.
std::string read_all(int fd, std::chrono::milliseconds within = 3000ms) {
  std::string out;
  const auto end = Clock::now() + within;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// A BoundedServer on a unix socket with the control socket's framing and refusals, and a
// handler that echoes, or holds the reply of "hold" requests until release().
class UnixServer {
 public:
  explicit UnixServer(ServerLimits limits) : limits_(limits) {
    path_ = "/tmp/vs-mgmt-test-" + std::to_string(getpid()) + "-" + std::to_string(++seq_);
    BoundedServer::Protocol p;
    p.frame = control_frame;
    p.refusal = [limits](BoundedServer::Refusal why, const std::string& d) {
      return control_refusal(why, d, limits);
    };
    p.handle = [this](std::string req, BoundedServer::Reply reply) {
      if (req.rfind("hold", 0) == 0) {
        std::lock_guard lock(mu_);
        held_.push_back(reply);
        return;
      }
      if (req.rfind("slow", 0) == 0) {
        std::thread([reply] {
          std::this_thread::sleep_for(800ms);
          reply("slow done\n");
        }).detach();
        return;
      }
      reply("echo " + req);
    };
    server_ = std::make_unique<BoundedServer>("test", limits, std::move(p));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path_.c_str());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd, SOMAXCONN), 0);
    EXPECT_EQ(server_->start(fd), "");
  }
  ~UnixServer() {
    release();
    server_->stop();
    unlink(path_.c_str());
  }
  int connect_client() const {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  // Sends `req` on a new connection and returns the reply. A server over its cap answers and
  // closes at accept, without reading: on a loaded machine that can happen before the send,
  // which then fails with EPIPE, and the refusal is still there to read.
  std::string ask(const std::string& req) const {
    int fd = connect_client();
    const ssize_t sent = send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      EXPECT_TRUE(errno == EPIPE || errno == ECONNRESET) << std::strerror(errno);
    } else {
      EXPECT_EQ(sent, static_cast<ssize_t>(req.size()));
    }
    std::string r = read_all(fd);
    close(fd);
    return r;
  }
  void release() {
    std::lock_guard lock(mu_);
    for (auto& r : held_) r("released\n");
    held_.clear();
  }
  std::vector<BoundedServer::Reply> take_held() {
    std::lock_guard lock(mu_);
    return std::move(held_);
  }
  std::size_t held() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  const ServerCounters& counters() const { return server_->counters(); }
  // Waits until the server counts `n` open connections.
  bool wait_open(int64_t n) const {
    for (int i = 0; i < 300; ++i) {
      if (counters().open.load() == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  static inline int seq_ = 0;
  ServerLimits limits_;
  std::string path_;
  std::unique_ptr<BoundedServer> server_;
  std::mutex mu_;
  std::vector<BoundedServer::Reply> held_;
};

TEST(MgmtServer, AnswersAndCloses) {
  UnixServer s(ServerLimits{});
  EXPECT_EQ(s.ask("hello\n"), "echo hello\n");
  // Without a newline, a client that shuts down its side still gets an answer.
  int fd = s.connect_client();
  ASSERT_EQ(send(fd, "bye", 3, 0), 3);
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(read_all(fd), "echo bye");
  close(fd);
  EXPECT_EQ(s.counters().accepted.load(), 2u);
  EXPECT_TRUE(s.wait_open(0));
}

TEST(MgmtServer, IdleClientTimesOutWithoutDelayingOthers) {
  ServerLimits l;
  l.request_timeout = 400ms;
  UnixServer s(l);
  int idle = s.connect_client();
  const auto t0 = Clock::now();
  EXPECT_EQ(s.ask("quick\n"), "echo quick\n");
  EXPECT_LT(Clock::now() - t0, 350ms) << "an idle client delayed another one";
  const std::string bye = read_all(idle);
  const auto waited = Clock::now() - t0;
  EXPECT_NE(bye.find("timed out: no complete request line within 400 ms"), std::string::npos)
      << bye;
  EXPECT_GE(waited, 350ms);
  EXPECT_LT(waited, 1500ms);
  close(idle);
  EXPECT_EQ(s.counters().timed_out.load(), 1u);
  // A client that sends half a line and stops is dropped the same way.
  int slow = s.connect_client();
  ASSERT_EQ(send(slow, "{\"cmd\":", 7, 0), 7);
  EXPECT_NE(read_all(slow).find("timed out"), std::string::npos);
  close(slow);
  EXPECT_EQ(s.counters().timed_out.load(), 2u);
}

TEST(MgmtServer, OversizedRequestGetsAnErrorNamingTheLimit) {
  ServerLimits l;
  l.max_request = 64 * 1024;
  UnixServer s(l);
  int fd = s.connect_client();
  std::string big(1 << 20, 'x');  // 1 MiB without a newline, more than the socket buffer
  std::thread writer([fd, &big] {
    std::size_t off = 0;
    while (off < big.size()) {
      ssize_t n = send(fd, big.data() + off, big.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  });
  const std::string reply = read_all(fd);
  writer.join();
  close(fd);
  EXPECT_NE(reply.find("larger than the limit of 64 KiB"), std::string::npos) << reply;
  EXPECT_EQ(s.counters().oversized.load(), 1u);
  EXPECT_EQ(s.ask("after\n"), "echo after\n");
}

TEST(MgmtServer, AtTheCapTheOldestIdleClientMakesRoom) {
  ServerLimits l;
  l.max_clients = 4;
  UnixServer s(l);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(s.connect_client());
  ASSERT_TRUE(s.wait_open(4));
  const auto t0 = Clock::now();
  EXPECT_EQ(s.ask("room\n"), "echo room\n");
  EXPECT_LT(Clock::now() - t0, 1000ms);  // not the 5 s request deadline of an idle one
  // The first idle client was closed with a reason; the others are still open.
  EXPECT_NE(read_all(idle[0], 500ms).find("closed: 4 control clients"), std::string::npos);
  for (int i = 1; i < 4; ++i) {
    pollfd p{idle[i], POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "idle client " << i << " was closed too";
  }
  EXPECT_EQ(s.counters().evicted.load(), 1u);
  EXPECT_EQ(s.counters().at_cap.load(), 1u);
  EXPECT_EQ(s.counters().refused.load(), 0u);
  for (int fd : idle) close(fd);
}

TEST(MgmtServer, OverTheCapWithEveryRequestBeingAnsweredIsRefused) {
  ServerLimits l;
  l.max_clients = 2;
  UnixServer s(l);
  int a = s.connect_client(), b = s.connect_client();
  ASSERT_EQ(send(a, "hold\n", 5, 0), 5);
  ASSERT_EQ(send(b, "hold\n", 5, 0), 5);
  for (int i = 0; i < 100 && s.held() < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(s.held(), 2u);
  const auto t0 = Clock::now();
  const std::string refused = s.ask("third\n");
  EXPECT_LT(Clock::now() - t0, 1000ms) << "the refusal hung";
  EXPECT_NE(refused.find("busy: 2 control clients are connected"), std::string::npos) << refused;
  EXPECT_EQ(s.counters().refused.load(), 1u);
  s.release();
  EXPECT_EQ(read_all(a), "released\n");
  EXPECT_EQ(read_all(b), "released\n");
  close(a);
  close(b);
  EXPECT_EQ(s.ask("fourth\n"), "echo fourth\n");
}

TEST(MgmtServer, ASlowReplyDelaysNoOtherClient) {
  UnixServer s(ServerLimits{});
  int slow = s.connect_client();
  ASSERT_EQ(send(slow, "slow\n", 5, 0), 5);
  const auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.ask("fast\n"), "echo fast\n");
  EXPECT_LT(Clock::now() - t0, 700ms);  // the slow reply takes 800 ms
  EXPECT_EQ(read_all(slow), "slow done\n");
  close(slow);
}

TEST(MgmtServer, ManyIdleClientsThenEveryFdIsBack) {
  const int fds0 = fd_count();
  {
    ServerLimits l;
    l.max_clients = 32;
    l.request_timeout = 300ms;
    UnixServer s(l);
    std::vector<int> idle;
    for (int i = 0; i < 200; ++i) idle.push_back(s.connect_client());
    EXPECT_EQ(s.ask("through\n"), "echo through\n");
    for (int fd : idle) close(fd);
    EXPECT_TRUE(s.wait_open(0));
    EXPECT_GE(s.counters().evicted.load() + s.counters().timed_out.load(), 169u);
  }
  EXPECT_EQ(fd_count(), fds0);
}

TEST(MgmtServer, ReplyAfterStopIsDropped) {
  std::vector<BoundedServer::Reply> late;
  {
    UnixServer s(ServerLimits{});
    int fd = s.connect_client();
    ASSERT_EQ(send(fd, "hold\n", 5, 0), 5);
    for (int i = 0; i < 100 && s.held() < 1; ++i) std::this_thread::sleep_for(10ms);
    late = s.take_held();
    close(fd);
  }
  ASSERT_EQ(late.size(), 1u);
  late[0]("too late\n");  // the server is gone: nothing happens, nothing crashes
}

// A request that keeps its connection (capture) gets it, with the fd the client passed; the fds
// passed with other requests are closed, not leaked.
TEST(MgmtServer, TakesAConnectionWithItsPassedFd) {
  const std::string path = "/tmp/vs-mgmt-take-" + std::to_string(getpid());
  std::mutex mu;
  std::condition_variable cv;
  int taken_conn = -1, taken_fd = -1;
  BoundedServer::Protocol p;
  p.frame = control_frame;
  p.refusal = [](BoundedServer::Refusal why, const std::string& d) {
    return control_refusal(why, d, ServerLimits{});
  };
  p.handle = [](std::string req, BoundedServer::Reply reply) { reply("echo " + req); };
  p.take = [&](const std::string& req, int fd, std::vector<int>& fds) {
    if (req.rfind("take", 0) != 0) return false;
    std::lock_guard lock(mu);
    taken_conn = fd;
    taken_fd = fds.size() == 1 ? fds[0] : -1;
    fds.clear();
    cv.notify_all();
    return true;
  };
  BoundedServer server("test", ServerLimits{}, std::move(p));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(path.c_str());
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(lfd, 8), 0);
  ASSERT_EQ(server.start(lfd), "");
  auto send_with_pipe = [&](const std::string& line, int& read_end) {
    int pipefd[2];
    EXPECT_EQ(pipe(pipefd), 0);
    read_end = pipefd[0];
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    iovec iov{const_cast<char*>(line.data()), line.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &pipefd[1], sizeof(int));
    EXPECT_EQ(sendmsg(c, &msg, 0), static_cast<ssize_t>(line.size()));
    close(pipefd[1]);
    return c;
  };
  // An ordinary request: answered, and the passed write end is closed (the read end sees EOF).
  int r1;
  int c1 = send_with_pipe("hello\n", r1);
  EXPECT_EQ(read_all(c1), "echo hello\n");
  char b;
  EXPECT_EQ(read(r1, &b, 1), 0);
  close(c1);
  close(r1);
  // A request that takes its connection: the taker writes through both.
  int r2;
  int c2 = send_with_pipe("take me\n", r2);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 3s, [&] { return taken_conn >= 0; }));
  }
  ASSERT_GE(taken_fd, 0);
  EXPECT_EQ(write(taken_fd, "x", 1), 1);
  EXPECT_EQ(read(r2, &b, 1), 1);
  EXPECT_EQ(b, 'x');
  EXPECT_EQ(send(taken_conn, "yours\n", 6, MSG_NOSIGNAL), 6);
  close(taken_conn);
  close(taken_fd);
  EXPECT_EQ(read_all(c2), "yours\n");
  close(c2);
  close(r2);
  server.stop();
  unlink(path.c_str());
}

TEST(MetricsHttp, Framing) {
  std::string err;
  EXPECT_EQ(http_frame("GET /metrics HTTP/1.1\r\nHost: x\r\n", false, err), 0);
  EXPECT_EQ(http_frame("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, err), 34);
  EXPECT_LT(http_frame("GET /metrics HTTP/1.1\r\n", true, err), 0);
  auto body = [] { return std::string("m 1\n"); };
  EXPECT_EQ(http_reply("GET /metrics HTTP/1.1\r\n\r\n", body).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(http_reply("GET /metrics?x=1 HTTP/1.1\r\n\r\n", body).find("\r\n\r\nm 1\n"),
            std::string::npos);
  EXPECT_EQ(http_reply("GET /x HTTP/1.1\r\n\r\n", body).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_reply("POST /metrics HTTP/1.1\r\n\r\n", body).rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(http_reply("hello\r\n\r\n", body).rfind("HTTP/1.1 400", 0), 0u);
}

int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

std::string http_get(int port, const std::string& head) {
  int fd = tcp_connect(port);
  EXPECT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::string r = read_all(fd);
  close(fd);
  return r;
}

TEST(MetricsHttp, ScrapesGetThroughHalfSentRequests) {
  ServerLimits l;
  l.max_clients = 16;
  l.request_timeout = 2000ms;
  MetricsHttpServer srv(l, 2, [] { return std::string("vswitch_test 1\n"); });
  ASSERT_EQ(srv.start("127.0.0.1:0"), "");
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) {
    slow.push_back(tcp_connect(srv.port()));
    send(slow.back(), "GET /metrics HTTP/1.1\r\nHost: x\r\n", 33, MSG_NOSIGNAL);
  }
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    const std::string r = http_get(srv.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_LT(Clock::now() - t0, 1000ms);  // not the 2 s deadline of the half-sent ones
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("\r\n\r\nvswitch_test 1\n"), std::string::npos) << r;
  }
  // The last ones still held time out with a 408 naming the setting.
  const std::string bye = read_all(slow.back(), 4000ms);
  EXPECT_EQ(bye.rfind("HTTP/1.1 408", 0), 0u) << bye;
  EXPECT_NE(bye.find("metrics_request_timeout_ms"), std::string::npos);
  for (int fd : slow) close(fd);
  EXPECT_GE(srv.counters().evicted.load(), 84u);
  EXPECT_GE(srv.counters().timed_out.load(), 1u);
  // A request head over 8 KiB: 431.
  const std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n";
  EXPECT_EQ(http_get(srv.port(), big).rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(srv.counters().oversized.load(), 1u);
}

TEST(MetricsHttp, BasicAuth) {
  // "secret" under bcrypt cost 5, made with the system's crypt().
  const std::string hash = "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a";
  MetricsHttpServer srv(ServerLimits{}, 2, [] { return std::string("vswitch_test 1\n"); });
  srv.set_basic_auth({{"prom", hash}});
  ASSERT_EQ(srv.start("127.0.0.1:0"), "");
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  std::string r = http_get(srv.port(), head + "\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_NE(r.find("WWW-Authenticate: Basic realm=\"vswitchd\""), std::string::npos) << r;
  // prom:wrong, other:secret, prom:secret (base64)
  r = http_get(srv.port(), head + "Authorization: Basic cHJvbTp3cm9uZw==\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  r = http_get(srv.port(), head + "Authorization: Basic b3RoZXI6c2VjcmV0\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  for (int i = 0; i < 2; ++i) {  // the second one from the cache
    r = http_get(srv.port(), head + "authorization:  basic cHJvbTpzZWNyZXQ=\r\n\r\n");
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK", 0), 0u) << r;
  }
  EXPECT_EQ(srv.unauthorized(), 3u);
}

}  // namespace
}  // namespace vs
