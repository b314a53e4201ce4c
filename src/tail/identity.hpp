// Owns what makes a file the same file: (device, inode) plus a hash of its first bytes.
// Pure functions over descriptors; any thread may call them.
#pragma once

#include <cstdint>
#include <optional>

#include "sys/sys.hpp"

namespace sqtail::tail {

struct Identity {
  std::uint64_t dev = 0;
  std::uint64_t inode = 0;
  std::uint64_t fingerprint = 0;  // xxh64 of the first fingerprint_len bytes
  std::uint32_t fingerprint_len = 0;
  // Birth time in ns (statx), 0 where the file system keeps none. A reused inode is born
  // again, so this tells it from the old file even when both are empty.
  std::uint64_t birth = 0;

  bool sameInode(std::uint64_t d, std::uint64_t i) const { return dev == d && inode == i; }
};

// Hashes the first min(size, want) bytes of `fd`. A file shorter than `want` gets a
// shorter fingerprint that grows with it (refreshFingerprint), so tiny files are tracked too.
sys::Result<Identity> identify(int fd, std::uint32_t want);

// Hash of exactly `len` bytes at the start of `fd`, or nullopt when the file is shorter.
sys::Result<std::optional<std::uint64_t>> hashPrefix(int fd, std::uint32_t len);
// Hash of exactly `len` bytes at `offset`, or nullopt when the file ends before.
sys::Result<std::optional<std::uint64_t>> hashRange(int fd, std::int64_t offset, std::uint32_t len);

// How many bytes before a checkpoint offset are hashed to detect a rewrite.
inline constexpr std::uint32_t kCheckBytes = 64;

}  // namespace sqtail::tail
