// Probing plugin libraries in a child process (what `xomni plugins` lists): working plugins are
// described as in-process, unusable ones keep their reason, and a library whose constructor
// crashes, hangs or exits is named with what happened while this process carries on.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "check.h"
#include "xomni/plugins/plugin_probe.h"

namespace xomni::plugins {
namespace {

using xomni::test::contains;

std::string bad_constructor(const std::string& variant) {
  return std::string(XOMNI_BAD_CONSTRUCTOR_DIR) + "/libxomni_reward_test_" + variant +
         "_on_load.so";
}

TEST(PluginProbe, AWorkingRewardIsDescribedFromTheChild) {
  const std::string path = std::string(XOMNI_BUILD_PLUGIN_DIR) + "/libxomni_reward_contrast.so";
  const PluginDescription d = probe_plugin_library(path, 10);
  EXPECT_EQ(d.kind, "reward");
  EXPECT_EQ(d.name, "contrast");
  EXPECT_EQ(d.version, "1.0.0");
  EXPECT_EQ(d.file, path);
  const PluginDescription in_process = describe_plugin_library(path);
  EXPECT_EQ(d.note, in_process.note);
}

TEST(PluginProbe, AWorkingComponentIsDescribedFromTheChild) {
  const PluginDescription d =
      probe_plugin_library(std::string(XOMNI_FAKE_PLUGIN_DIR) + "/libxomni_fake_ok.so", 10);
  EXPECT_EQ(d.kind, "text_tokenizer");
  EXPECT_EQ(d.note, "");
}

TEST(PluginProbe, AnUnusableLibraryKeepsItsReason) {
  const std::string path = std::string(XOMNI_TEST_PLUGIN_DIR) + "/libxomni_reward_test_bad_abi.so";
  const PluginDescription d = probe_plugin_library(path, 10);
  EXPECT_TRUE(contains(d.note, "reward ABI version 999 but this xomni uses version 1")) << d.note;
  const PluginDescription missing = probe_plugin_library("/no/such/libxomni_x.so", 10);
  EXPECT_TRUE(contains(missing.note, "/no/such/libxomni_x.so does not exist")) << missing.note;
}

TEST(PluginProbe, AConstructorThatSegfaultsIsNamedWithTheSignal) {
  const std::string path = bad_constructor("crash");
  const PluginDescription d = probe_plugin_library(path, 10);
  EXPECT_EQ(d.file, path);
  EXPECT_EQ(d.kind, "?");
  EXPECT_TRUE(contains(d.note, path + ": crashed while loading (signal 11")) << d.note;
  EXPECT_TRUE(contains(d.note, "take it off the plugin path")) << d.note;
}

TEST(PluginProbe, AConstructorThatHangsIsStoppedAtTheTimeout) {
  const std::string path = bad_constructor("hang");
  const auto start = std::chrono::steady_clock::now();
  const PluginDescription d = probe_plugin_library(path, 0.5);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(contains(d.note, path + ": still loading after 0.5 s, stopped")) << d.note;
  EXPECT_GE(took, 0.5);
  EXPECT_LT(took, 5.0) << "the hung child was not stopped at the timeout";
}

TEST(PluginProbe, AConstructorThatExitsIsReportedWithItsStatus) {
  const std::string path = bad_constructor("exit");
  const PluginDescription d = probe_plugin_library(path, 10);
  EXPECT_TRUE(contains(d.note, path + ": ended the process with exit status 3 while loading"))
      << d.note;
}

TEST(PluginProbe, ABadTimeoutIsRefused) {
  for (const double bad : {0.0, -1.0, 9.3e18}) {
    const std::string m = test::error_message([&] { probe_plugin_library("x.so", bad); });
    EXPECT_TRUE(contains(m, "x.so: the timeout must be a number of seconds in (0, 86400]")) << m;
  }
}

}  // namespace
}  // namespace xomni::plugins
