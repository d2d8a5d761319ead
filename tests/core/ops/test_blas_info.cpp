// The warning about OpenBLAS's generic kernels on a CPU that has wider vectors.
#include <gtest/gtest.h>

#include "xomni/core/ops/blas_info.h"

using namespace xomni;

TEST(BlasInfo, WarnsAboutGenericKernelsOnWideCpus) {
  const std::string w = blas_kernel_warning("Prescott", true, true, nullptr);
  EXPECT_NE(w.find("'Prescott'"), std::string::npos) << w;
  EXPECT_NE(w.find("AVX-512"), std::string::npos) << w;
  EXPECT_NE(w.find("OPENBLAS_CORETYPE=SkylakeX"), std::string::npos) << w;
  // An AVX2 set on an AVX-512 CPU is still worth the switch; on an AVX2 CPU it is the right one.
  EXPECT_NE(blas_kernel_warning("Haswell", true, true, nullptr).find("SkylakeX"),
            std::string::npos);
  EXPECT_EQ(blas_kernel_warning("Haswell", false, true, nullptr), "");
  EXPECT_NE(blas_kernel_warning("Core2", false, true, nullptr).find("OPENBLAS_CORETYPE=Haswell"),
            std::string::npos);
}

TEST(BlasInfo, SilentWhenTheKernelsFitOrTheUserChose) {
  EXPECT_EQ(blas_kernel_warning("SkylakeX", true, true, nullptr), "");
  EXPECT_EQ(blas_kernel_warning("SapphireRapids", true, true, nullptr), "");
  EXPECT_EQ(blas_kernel_warning("Prescott", false, false, nullptr), "");   // an SSE-only CPU
  EXPECT_EQ(blas_kernel_warning("Prescott", true, true, "Prescott"), "");  // set on purpose
  EXPECT_EQ(blas_kernel_warning("Prescott", true, true, ""),
            blas_kernel_warning("Prescott", true, true, nullptr));
}

TEST(BlasInfo, SuggestsTheSetForTheCpusVectors) {
  EXPECT_EQ(blas_coretype_suggestion("Prescott", true, true, nullptr), "SkylakeX");
  EXPECT_EQ(blas_coretype_suggestion("Zen", true, true, nullptr), "SkylakeX");
  EXPECT_EQ(blas_coretype_suggestion("Core2", false, true, nullptr), "Haswell");
  EXPECT_EQ(blas_coretype_suggestion("Cooperlake", true, true, nullptr), "");
  EXPECT_EQ(blas_coretype_suggestion("Haswell", false, true, nullptr), "");
  EXPECT_EQ(blas_coretype_suggestion("Prescott", false, false, nullptr), "");
  EXPECT_EQ(blas_coretype_suggestion("Prescott", true, true, "Prescott"), "");  // the user's
}

TEST(BlasInfo, NamesTheLoadedKernelSet) {
  EXPECT_FALSE(blas_core_name().empty());
}
