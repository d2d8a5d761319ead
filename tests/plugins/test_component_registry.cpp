// The component registry: built-in plugins by name and by path, `describe`, and every failure a
// user can meet, each with a message that names the plugin, its file and what to do.
#include <gtest/gtest.h>

#include <cstdlib>

#include "check.h"
#include "xomni/plugins/component_registry.h"
#include "xomni/plugins/shared_library.h"

using namespace xomni;
using namespace xomni::plugins;
using xomni::test::contains;
using xomni::test::error_message;

namespace {

std::string fake(const std::string& variant) {
  return std::string(XOMNI_FAKE_PLUGIN_DIR) + "/libxomni_fake_" + variant + ".so";
}

ComponentContext qwen2_context() {
  ComponentContext ctx;
  ctx.config_json =
      R"({"vocab_size": 32, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
          "num_attention_heads": 2, "num_key_value_heads": 1})";
  ctx.where = "<test>";
  ctx.seed = 3;
  return ctx;
}

TEST(ComponentRegistry, BuiltInBackboneByNameAndByPath) {
  const auto by_name = create_backbone("qwen2", qwen2_context());
  EXPECT_EQ(by_name->vocab_size(), 32);
  const std::string path = find_plugin_library("qwen2", "backbone_", "backbone");
  const auto by_path = create_backbone(path, qwen2_context());
  // Same seed, same weights.
  const auto a = by_name->named_parameters(), b = by_path->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>()) << a[i].first;
  const ComponentPluginInfo info = describe_component_plugin(path);
  EXPECT_EQ(info.kind, "backbone");
  EXPECT_EQ(info.name, "qwen2");
  EXPECT_EQ(info.abi_version, uint32_t(XOMNI_COMPONENT_ABI_VERSION));
}

TEST(ComponentRegistry, BuiltInTokenizerRoundTrips) {
  ComponentContext ctx;
  ctx.config_json = R"({"train_texts": ["abab abab", "abc abc abc"], "vocab_size": 260})";
  ctx.where = "<test>";
  const auto tok = create_text_tokenizer("bpe", ctx);
  const std::vector<int64_t> ids = tok->encode("abc abab", true);
  EXPECT_LT(ids.size(), 8u) << "merges were learnt";
  EXPECT_EQ(tok->decode(ids, false), "abc abab");
}

TEST(ComponentRegistry, AWorkingOutOfTreePluginLoadsByPath) {
  const auto tok = create_text_tokenizer(fake("ok"), {});
  EXPECT_EQ(tok->encode("hi", true), (std::vector<int64_t>{'h', 'i'}));
}

TEST(ComponentRegistry, MissingPluginListsWhereItLookedAndHowToGiveAPath) {
  ::setenv("XOMNI_PLUGIN_PATH", "/no/such/folder", 1);
  const std::string m = error_message([] { create_backbone("nosuch", {}); });
  ::unsetenv("XOMNI_PLUGIN_PATH");
  EXPECT_TRUE(contains(m, "no backbone plugin named 'nosuch'")) << m;
  EXPECT_TRUE(contains(m, "libxomni_backbone_nosuch.so is not in")) << m;
  EXPECT_TRUE(contains(m, "/no/such/folder (from XOMNI_PLUGIN_PATH, does not exist)")) << m;
  EXPECT_TRUE(contains(m, std::string(XOMNI_BUILD_PLUGIN_DIR) + " (beside libxomni_plugins.so)"))
      << m;
  EXPECT_TRUE(contains(m, "add its folder to XOMNI_PLUGIN_PATH")) << m;
  EXPECT_TRUE(contains(m, "e.g. \"./libxomni_backbone_nosuch.so\"")) << m;
}

TEST(ComponentRegistry, MissingFileIsNamed) {
  const std::string m = error_message([] { create_backbone("/nonexistent/libx.so", {}); });
  EXPECT_NE(m.find("/nonexistent/libx.so does not exist"), std::string::npos) << m;
}

TEST(ComponentRegistry, OtherAbiVersionSaysRebuild) {
  const std::string m = error_message([] { create_text_tokenizer(fake("abi"), {}); });
  EXPECT_NE(m.find("component ABI version 99"), std::string::npos) << m;
  EXPECT_NE(m.find("rebuild the plugin"), std::string::npos) << m;
  EXPECT_NE(m.find(fake("abi")), std::string::npos) << m;
}

TEST(ComponentRegistry, WrongKindIsNamed) {
  const std::string m = error_message([] { create_backbone(fake("kind"), {}); });
  EXPECT_NE(m.find("is a adapter plugin, not a backbone"), std::string::npos) << m;
}

TEST(ComponentRegistry, ExceptionInFactoryNamesThePlugin) {
  ComponentContext ctx;
  ctx.where = "job.toml [tokenizer]";
  const std::string m = error_message([&] { create_text_tokenizer(fake("throws"), ctx); });
  EXPECT_NE(m.find("failed to create its text_tokenizer from job.toml [tokenizer]"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("the settings lack \"vocab\""), std::string::npos) << m;
}

TEST(ComponentRegistry, MissingEntryPointIsNamed) {
  const std::string m = error_message([] { create_text_tokenizer(fake("noentry"), {}); });
  EXPECT_NE(m.find("does not export xomni_component_plugin"), std::string::npos) << m;
}

TEST(ComponentRegistry, SearchPathComesFromTheEnvironmentFirst) {
  ::setenv("XOMNI_PLUGIN_PATH", XOMNI_FAKE_PLUGIN_DIR, 1);
  const std::vector<std::string> dirs = plugin_search_path();
  ::unsetenv("XOMNI_PLUGIN_PATH");
  ASSERT_FALSE(dirs.empty());
  EXPECT_NE(dirs.front().find("fake_plugins"), std::string::npos) << dirs.front();
  // By name through the path: libxomni_text_tokenizer_fake.so does not exist there, but
  // libxomni_fake_ok.so is found with prefix "fake_".
  ::setenv("XOMNI_PLUGIN_PATH", XOMNI_FAKE_PLUGIN_DIR, 1);
  EXPECT_EQ(find_plugin_library("ok", "fake_", "test"), fake("ok"));
  ::unsetenv("XOMNI_PLUGIN_PATH");
}

TEST(ComponentRegistry, SearchPathIsTheEnvironmentThenBesideTheLoaderOnly) {
  // No folder is compiled in: a build-tree xomni finds <build>/lib/xomni/plugins because
  // libxomni_plugins.so is built into <build>/lib, exactly as an installed one finds its own.
  // A trailing '/' and a repeat name the same folder once.
  ::setenv("XOMNI_PLUGIN_PATH", XOMNI_FAKE_PLUGIN_DIR ":/no/such/folder:" XOMNI_FAKE_PLUGIN_DIR "/",
           1);
  const std::vector<PluginFolder> folders = plugin_search_folders();
  const std::vector<std::string> dirs = plugin_search_path();
  ::unsetenv("XOMNI_PLUGIN_PATH");
  ASSERT_EQ(folders.size(), 3u);
  EXPECT_EQ(folders[0].path, XOMNI_FAKE_PLUGIN_DIR);
  EXPECT_EQ(folders[1].path, "/no/such/folder");
  EXPECT_FALSE(folders[1].exists);
  EXPECT_EQ(folders[2].path, XOMNI_BUILD_PLUGIN_DIR);
  EXPECT_EQ(folders[2].origin, "beside libxomni_plugins.so");
  EXPECT_EQ(dirs, (std::vector<std::string>{XOMNI_FAKE_PLUGIN_DIR, XOMNI_BUILD_PLUGIN_DIR}));
}

TEST(ComponentRegistry, ValuesWithASlashOrEndingInSoArePaths) {
  for (const char* path : {"./red.so", "red.so", "plugins/red", "/abs/libxomni_backbone_x.so"})
    EXPECT_TRUE(is_plugin_path(path)) << path;
  for (const char* name : {"qwen2", "red", "so", ".so"}) EXPECT_FALSE(is_plugin_path(name)) << name;
  // A path is opened as given, never looked up by name.
  EXPECT_EQ(find_plugin_library("./red.so", "backbone_", "backbone"), "./red.so");
}

}  // namespace
