#include "tail/identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <vector>

namespace sqtail::tail {

sys::Result<std::optional<std::uint64_t>> hashRange(int fd, std::int64_t offset,
                                                    std::uint32_t len) {
  std::vector<char> buf(len);
  auto got = sys::preadFull(fd, buf.data(), len, offset);
  if (!got) return tl::unexpected(got.error());
  if (*got < len) return std::optional<std::uint64_t>{};
  return std::optional<std::uint64_t>{XXH64(buf.data(), len, 0)};
}

sys::Result<std::optional<std::uint64_t>> hashPrefix(int fd, std::uint32_t len) {
  return hashRange(fd, 0, len);
}

sys::Result<Identity> identify(int fd, std::uint32_t want) {
  auto st = sys::fstat(fd);
  if (!st) return tl::unexpected(st.error());
  Identity id;
  id.dev = static_cast<std::uint64_t>(st->st_dev);
  id.inode = static_cast<std::uint64_t>(st->st_ino);
  std::vector<char> buf(want);
  auto got = sys::preadFull(fd, buf.data(), want, 0);
  if (!got) return tl::unexpected(got.error());
  id.fingerprint_len = static_cast<std::uint32_t>(*got);
  id.fingerprint = XXH64(buf.data(), *got, 0);
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
    id.birth =
        static_cast<std::uint64_t>(sx.stx_btime.tv_sec) * 1'000'000'000u + sx.stx_btime.tv_nsec;
  }
  return id;
}

}  // namespace sqtail::tail
