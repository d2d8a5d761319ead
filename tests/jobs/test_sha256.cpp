// SHA-256 against FIPS 180-2's published test vectors (appendix B: one block, two blocks, a
// million 'a'), the empty message, and a file read back with the same digest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "xomni/core/tensor/error.h"

namespace xomni {
namespace {

TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(jobs::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(jobs::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the length no longer fits the first padded block.
  EXPECT_EQ(jobs::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(jobs::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileBytes) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("sha256_" + std::to_string(::getpid()) + ".txt"))
          .string();
  std::ofstream(path, std::ios::binary) << "abc";
  EXPECT_EQ(jobs::sha256_file_hex(path),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
  EXPECT_THROW(jobs::sha256_file_hex(path), Error);
}

}  // namespace
}  // namespace xomni
