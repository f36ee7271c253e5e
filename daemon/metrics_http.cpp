#include "daemon/metrics_http.hpp"

#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace vs {
namespace {

std::string response(const char* status, const std::string& body,
                     const char* type = "text/plain; charset=utf-8", const char* extra = "",
                     bool head_only = false) {
  std::string r = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
                  "\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n" + extra + "\r\n";
  if (!head_only) r += body;
  return r;
}

// The value of header `name` (lower case) in a request head, without surrounding blanks.
std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t pos = head.find('\n');
  while (pos != std::string_view::npos && pos + 1 < head.size()) {
    const std::size_t start = pos + 1;
    const std::size_t end = head.find('\n', start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? end : end - start);
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (std::size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
      if (same) {
        std::string_view v = line.substr(name.size() + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.remove_suffix(1);
        return v;
      }
    }
    pos = end;
  }
  return {};
}

std::string base64_decode(std::string_view in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const auto i = kAlphabet.find(c);
    if (i == std::string::npos) return {};
    buf = (buf << 6) | static_cast<unsigned>(i);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::ptrdiff_t http_frame(std::string_view buf, bool eof, std::string& error) {
  if (auto end = buf.find("\r\n\r\n"); end != std::string_view::npos)
    return static_cast<std::ptrdiff_t>(end + 4);
  if (auto end = buf.find("\n\n"); end != std::string_view::npos)
    return static_cast<std::ptrdiff_t>(end + 2);
  if (eof && !buf.empty()) {
    error = "the request head ended before its empty line";
    return -1;
  }
  return 0;
}

std::string http_refusal(BoundedServer::Refusal why, const std::string& detail,
                         const ServerLimits& limits) {
  using R = BoundedServer::Refusal;
  const std::string cap = std::to_string(limits.max_clients);
  switch (why) {
    case R::kAtCap:
      return response("503 Service Unavailable",
                      "busy: " + cap +
                          " connections are open, each with a scrape being rendered ([daemon] "
                          "metrics_max_connections)\n",
                      "text/plain; charset=utf-8", "Retry-After: 1\r\n");
    case R::kEvicted:
      return response("503 Service Unavailable",
                      "closed: " + cap +
                          " connections were open ([daemon] metrics_max_connections) and this "
                          "one, the oldest, had not sent its request yet\n");
    case R::kTimeout:
      return response("408 Request Timeout", "no complete request head within " +
                                                 std::to_string(limits.request_timeout.count()) +
                                                 " ms ([daemon] metrics_request_timeout_ms)\n");
    case R::kTooLarge:
      return response("431 Request Header Fields Too Large",
                      "the request head is larger than the limit of " +
                          std::to_string(limits.max_request) + " bytes\n");
    case R::kBadRequest:
      return response("400 Bad Request", detail + "\n");
  }
  return response("400 Bad Request", detail + "\n");
}

std::string http_reply(std::string_view request, const std::function<std::string()>& body) {
  const auto eol = request.find_first_of("\r\n");
  const std::string_view line = request.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0)
    return response("400 Bad Request", "not an HTTP/1.x request line\n");
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") {
    if (target == "/")
      return response("200 OK",
                      "<html><body><a href=\"/metrics\">vswitchd metrics</a></body></html>\n",
                      "text/html; charset=utf-8");
    return response("404 Not Found", "only /metrics is served here\n");
  }
  if (method != "GET" && method != "HEAD")
    return response("405 Method Not Allowed", "use GET\n", "text/plain; charset=utf-8",
                    "Allow: GET, HEAD\r\n");
  return response("200 OK", body(), "text/plain; version=0.0.4; charset=utf-8", "",
                  method == "HEAD");
}

MetricsHttpServer::MetricsHttpServer(ServerLimits limits, int threads,
                                     std::function<std::string()> render)
    : render_(std::move(render)), nb_threads_(threads < 1 ? 1 : threads) {
  limits.max_request = kMaxHttpRequest;
  BoundedServer::Protocol p;
  p.frame = http_frame;
  p.refusal = [limits](BoundedServer::Refusal why, const std::string& detail) {
    return http_refusal(why, detail, limits);
  };
  p.handle = [this](std::string request, BoundedServer::Reply reply) {
    std::lock_guard lock(mu_);
    jobs_.emplace_back(std::move(request), std::move(reply));
    cv_.notify_one();
  };
  server_ = std::make_unique<BoundedServer>("metrics endpoint", limits, std::move(p));
}

MetricsHttpServer::~MetricsHttpServer() {
  stop();
}

std::string MetricsHttpServer::start(const std::string& listen) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return "metrics_listen has no port: " + listen;
  std::string host = listen.substr(0, colon);
  const int port = std::atoi(listen.c_str() + colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1)
      return "metrics_listen: not an IPv6 address: " + host;
    len = sizeof(*a6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1)
      return "metrics_listen: not an IPv4 address: " + host;
    len = sizeof(*a4);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("metrics endpoint: socket: ") + std::strerror(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    std::string err = "cannot serve metrics on " + listen + " (" + std::strerror(errno) +
                      "): is the address in use? Set [daemon] metrics_listen to a free address.";
    close(fd);
    return err;
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) == 0)
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  for (int i = 0; i < nb_threads_; ++i) threads_.emplace_back([this] { work(); });
  if (std::string err = server_->start(fd); !err.empty()) {
    stop();
    return err;
  }
  return {};
}

void MetricsHttpServer::stop() {
  server_->stop();  // no new jobs
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool MetricsHttpServer::authorized(std::string_view request) {
  std::string_view value = header_value(request, "authorization");
  if (value.size() < 6) return false;
  std::string scheme(value.substr(0, 6));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "basic ") return false;
  const std::string cred = base64_decode(value.substr(6));
  const auto colon = cred.find(':');
  if (colon == std::string::npos) return false;
  const auto user = users_.find(cred.substr(0, colon));
  if (user == users_.end()) return false;
  {
    std::lock_guard lock(auth_mu_);
    if (auth_ok_.count(cred)) return true;
  }
  auto data = std::make_unique<crypt_data>();  // ~32 KB: not on a small thread stack
  // crypt_rn, not crypt_r: the sanitizers intercept crypt_r and, with libcrypt linked as
  // needed, call a null pointer (seen with GCC 12's ASan).
  const char* hash = crypt_rn(cred.c_str() + colon + 1, user->second.c_str(), data.get(),
                              static_cast<int>(sizeof(crypt_data)));
  if (hash == nullptr || user->second != hash) return false;
  std::lock_guard lock(auth_mu_);
  if (auth_ok_.size() >= 64) auth_ok_.clear();
  auth_ok_.insert(cred);
  return true;
}

void MetricsHttpServer::work() {
  for (;;) {
    std::pair<std::string, BoundedServer::Reply> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    std::string reply;
    try {
      if (!users_.empty() && !authorized(job.first)) {
        unauthorized_.fetch_add(1, std::memory_order_relaxed);
        reply = response("401 Unauthorized", "log in: [daemon] metrics_basic_auth_users is set\n",
                         "text/plain; charset=utf-8",
                         "WWW-Authenticate: Basic realm=\"vswitchd\", charset=\"UTF-8\"\r\n");
        job.second(std::move(reply));
        continue;
      }
      reply = http_reply(job.first, render_);
    } catch (const std::exception& e) {
      reply =
          "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: "
          "close\r\n\r\n" +
          std::string(e.what()) + "\n";
    }
    job.second(std::move(reply));
  }
}

}  // namespace vs
