// Job config: schema checks with positioned messages, defaults, --set overrides, TOML round trip.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "check.h"
#include "xomni/core/config/config.h"

using namespace xomni;

namespace {

const Schema& schema() {
  static const Schema s({
      string_field("note", "", "free text (a top-level key)"),
      string_field("run.name", "run", "run name"),
      int_field("run.seed", 7, "seed"),
      required_field("model.vocab_size", FieldType::integer, "vocabulary size"),
      bool_field("model.tie_embeddings", true, "tie input and output embeddings"),
      float_field("optimizer.learning_rate", 3e-4, "peak learning rate"),
      float_field("optimizer.weight_decay", 0.1, "weight decay"),
      int_field("optimizer.warmup_steps", 0, "warmup"),
      strings_field("optimizer.no_decay", {"*.bias", "*norm*"}, "no-decay globs"),
      bool_field("plugins.enabled", false, "a scalar next to a free-form table"),
      table_field("plugins.reward", "free-form reward settings"),
  });
  return s;
}

const char* kGood = R"(# a tiny job
[run]
name = "tiny"

[model]
vocab_size = 512

[optimizer]
learning_rate = 1e-3
no_decay = ["*.bias"]

[plugins.reward]
kind = "ocr"
weights = [0.5, 0.25]
)";

std::string message_of(std::string_view text, const std::vector<std::string>& overrides = {}) {
  return test::error_message([&] { Config::parse(text, "jobs/tiny.toml", schema(), overrides); });
}

using xomni::test::contains;

}  // namespace

TEST(Config, ValuesAndDefaults) {
  Config c = Config::parse(kGood, "jobs/tiny.toml", schema());
  EXPECT_EQ(c.get_string("run.name"), "tiny");
  EXPECT_EQ(c.get_int("run.seed"), 7);  // default
  EXPECT_FALSE(c.is_set("run.seed"));
  EXPECT_TRUE(c.is_set("run.name"));
  EXPECT_EQ(c.get_int("model.vocab_size"), 512);
  EXPECT_TRUE(c.get_bool("model.tie_embeddings"));
  EXPECT_EQ(c.get_float("optimizer.learning_rate"), 1e-3);
  EXPECT_EQ(c.get_float("optimizer.weight_decay"), 0.1);
  EXPECT_EQ(c.get_strings("optimizer.no_decay"), (std::vector<std::string>{"*.bias"}));
  // The free-form table comes back as TOML text that parses to the same content.
  const std::string reward = c.get_table("plugins.reward");
  EXPECT_TRUE(contains(reward, "kind = 'ocr'") || contains(reward, "kind = \"ocr\"")) << reward;
  EXPECT_TRUE(contains(reward, "weights = [ 0.5, 0.25 ]")) << reward;
  // An int is accepted for a float field.
  Config d = Config::parse("[model]\nvocab_size = 4\n[optimizer]\nlearning_rate = 1\n", "x.toml",
                           schema());
  EXPECT_EQ(d.get_float("optimizer.learning_rate"), 1.0);
  EXPECT_EQ(d.get_strings("optimizer.no_decay"), (std::vector<std::string>{"*.bias", "*norm*"}));
  EXPECT_EQ(d.get_table("plugins.reward"), "");
  // Getters check the key and the type.
  EXPECT_TRUE(contains(test::error_message([&] { c.get_int("optimizer.learning_rate"); }),
                       "'optimizer.learning_rate' is a float field, read as int"));
  EXPECT_TRUE(contains(test::error_message([&] { c.get_int("optimizer.warmup_step"); }),
                       "did you mean 'optimizer.warmup_steps'?"));
}

TEST(Config, UnknownKeyNamesPositionAndNearestKey) {
  std::string text = kGood;
  text.insert(text.find("no_decay"), "learning_rat = 3e-4\n");  // line 10
  const std::string m = message_of(text);
  EXPECT_TRUE(contains(m,
                       "jobs/tiny.toml:10:1: unknown key 'optimizer.learning_rat'; did you "
                       "mean 'optimizer.learning_rate'?"))
      << m;
  // A misspelt section.
  const std::string s = message_of("[optimiser]\nlearning_rate = 1.0\n");
  EXPECT_TRUE(contains(s, "jobs/tiny.toml:1:2: unknown key 'optimiser'; did you mean 'optimizer'?"))
      << s;
  // Nothing close: the valid keys of the section are listed.
  const std::string f = message_of("[model]\nvocab_size = 3\nflux_capacitor = 1\n");
  EXPECT_TRUE(contains(f,
                       "jobs/tiny.toml:3:1: unknown key 'model.flux_capacitor'; valid keys in "
                       "[model]: tie_embeddings vocab_size"))
      << f;
}

TEST(Config, WrongTypeNamesExpectedAndFound) {
  const std::string m = message_of("[model]\nvocab_size = \"big\"\n");
  EXPECT_TRUE(contains(m,
                       "jobs/tiny.toml:2:1: 'model.vocab_size' has the wrong type: expected "
                       "int, found string"))
      << m;
  const std::string l = message_of("[model]\nvocab_size = 1\n[optimizer]\nno_decay = [\"a\", 3]\n");
  EXPECT_TRUE(contains(l,
                       "jobs/tiny.toml:4:1: 'optimizer.no_decay' has the wrong type: expected "
                       "list of strings, found array whose element 1 is int"))
      << l;
  const std::string t = message_of("model = 3\n");
  EXPECT_TRUE(contains(t,
                       "jobs/tiny.toml:1:1: 'model' has the wrong type: expected table, found "
                       "int"))
      << t;
}

TEST(Config, MissingRequiredKey) {
  const std::string m = message_of("[run]\nname = \"x\"\n\n[model]\ntie_embeddings = false\n");
  EXPECT_TRUE(contains(m,
                       "jobs/tiny.toml:4:1: missing required key 'model.vocab_size' "
                       "(vocabulary size)"))
      << m;
  // Without the section at all the file is still named.
  const std::string n = message_of("");
  EXPECT_TRUE(contains(n, "jobs/tiny.toml: missing required key 'model.vocab_size'")) << n;
}

TEST(Config, SyntaxErrorHasPosition) {
  const std::string m = message_of("[model]\nvocab_size = = 3\n");
  EXPECT_TRUE(contains(m, "jobs/tiny.toml:2:")) << m;
  EXPECT_TRUE(contains(m, "TOML syntax error")) << m;
}

TEST(Config, OverridesApplyAndAreChecked) {
  Config c = Config::parse(kGood, "jobs/tiny.toml", schema(),
                           {"optimizer.learning_rate=2e-3", "run.name=unquoted",
                            "optimizer.no_decay=[\"*.b\", \"*ln*\"]", "model.vocab_size = 1024",
                            "plugins.reward={kind=\"geneval\"}"});
  EXPECT_EQ(c.get_float("optimizer.learning_rate"), 2e-3);
  EXPECT_EQ(c.get_string("run.name"), "unquoted");
  EXPECT_EQ(c.get_strings("optimizer.no_decay"), (std::vector<std::string>{"*.b", "*ln*"}));
  EXPECT_EQ(c.get_int("model.vocab_size"), 1024);
  EXPECT_TRUE(contains(c.get_table("plugins.reward"), "geneval"));
  // An override can supply a required key the file lacks.
  Config d = Config::parse("", "empty.toml", schema(), {"model.vocab_size=9"});
  EXPECT_EQ(d.get_int("model.vocab_size"), 9);
}

TEST(Config, BadOverrideKey) {
  const std::string m = message_of(kGood, {"optimizer.learning_rat=1e-3"});
  EXPECT_TRUE(contains(m,
                       "--set optimizer.learning_rat=1e-3: unknown key "
                       "'optimizer.learning_rat'; did you mean 'optimizer.learning_rate'?"))
      << m;
  EXPECT_TRUE(contains(message_of(kGood, {"run.seed"}), "--set run.seed: expected key=value"));
  EXPECT_TRUE(contains(message_of(kGood, {"plugins.reward.kind=\"x\""}),
                       "'plugins.reward' is a free-form table"));
}

TEST(Config, BadOverrideValue) {
  const std::string m = message_of(kGood, {"optimizer.warmup_steps=ten"});
  EXPECT_TRUE(contains(m, "--set optimizer.warmup_steps=ten: cannot parse 'ten' as a TOML value"))
      << m;
  EXPECT_TRUE(contains(m, "expected int")) << m;
  const std::string t = message_of(kGood, {"optimizer.warmup_steps=1.5"});
  EXPECT_TRUE(contains(t,
                       "--set optimizer.warmup_steps=1.5: 'optimizer.warmup_steps' has the "
                       "wrong type: expected int, found float"))
      << t;
}

TEST(Config, RenderParsesBackIdentically) {
  Config c =
      Config::parse(kGood, "jobs/tiny.toml", schema(),
                    {"optimizer.weight_decay=0.123456789012345678", "run.seed=-3",
                     "note=\"quote \\\" backslash \\\\ tab \\t é\"", "plugins.enabled=true"});
  const std::string text = c.to_toml();
  EXPECT_TRUE(contains(text, "learning_rate = 0.001  # peak learning rate\n")) << text;
  Config back = Config::parse(text, "rendered.toml", schema());
  EXPECT_EQ(back.to_toml(), text);
  EXPECT_EQ(back.get_string("run.name"), "tiny");
  EXPECT_EQ(back.get_string("note"), "quote \" backslash \\ tab \t é");
  EXPECT_TRUE(back.get_bool("plugins.enabled"));
  EXPECT_EQ(back.get_int("run.seed"), -3);
  EXPECT_EQ(back.get_int("model.vocab_size"), 512);
  EXPECT_EQ(back.get_bool("model.tie_embeddings"), true);
  EXPECT_EQ(back.get_float("optimizer.learning_rate"), 1e-3);
  EXPECT_EQ(back.get_float("optimizer.weight_decay"), 0.123456789012345678);  // bit exact
  EXPECT_EQ(back.get_int("optimizer.warmup_steps"), 0);
  EXPECT_EQ(back.get_strings("optimizer.no_decay"), (std::vector<std::string>{"*.bias"}));
  EXPECT_EQ(back.get_table("plugins.reward"), c.get_table("plugins.reward"));
  // Every field is written, defaults included.
  EXPECT_TRUE(back.is_set("optimizer.warmup_steps"));
  // Through a file as well (Config::load names the path in errors).
  const std::string path = ::testing::TempDir() + "xomni_config_roundtrip.toml";
  {
    std::ofstream out(path);
    out << text;
  }
  EXPECT_EQ(Config::load(path, schema()).to_toml(), text);
  std::remove(path.c_str());
  EXPECT_TRUE(contains(test::error_message([] { Config::load("/nonexistent/j.toml", schema()); }),
                       "'/nonexistent/j.toml'"));
}

// A field's declared range is checked where its value is read (the file, with its position, or a
// --set override), so no value outside it reaches the code; NaN never passes a float field.
TEST(Config, RangesAreCheckedWhereTheValueIsRead) {
  const Schema ranged({
      int_field("train.seq_len", 128, "tokens per sequence").at_least(1),
      float_field("parallel.timeout_s", 600.0, "watchdog").greater_than(0).at_most(3600),
      float_field("train.grad_clip", 1.0, "clip (0: off)").at_least(0),
      float_field("optimizer.beta1", 0.9, "beta1").at_least(0).less_than(1),
  });
  auto error = [&](std::string_view text, const std::vector<std::string>& overrides = {}) {
    return test::error_message([&] { Config::parse(text, "job.toml", ranged, overrides); });
  };
  std::string e = error("[train]\nseq_len = 0\n");
  EXPECT_TRUE(contains(e, "job.toml:2:")) << e;
  EXPECT_TRUE(contains(e, "'train.seq_len' must be at least 1, got 0")) << e;
  e = error("[train]\nseq_len = -5\n");
  EXPECT_TRUE(contains(e, "'train.seq_len' must be at least 1, got -5")) << e;
  e = error("", {"parallel.timeout_s=0"});
  EXPECT_TRUE(
      contains(e, "--set parallel.timeout_s=0: 'parallel.timeout_s' must be greater than 0"))
      << e;
  e = error("[parallel]\ntimeout_s = nan\n");
  EXPECT_TRUE(contains(e, "'parallel.timeout_s' must be a number, got nan")) << e;
  e = error("[parallel]\ntimeout_s = -inf\n");
  EXPECT_TRUE(contains(e, "'parallel.timeout_s' must be greater than 0")) << e;
  e = error("", {"parallel.timeout_s=inf"});
  EXPECT_TRUE(contains(e, "'parallel.timeout_s' must be at most 3600, got inf")) << e;
  e = error("[train]\ngrad_clip = -0.5\n");
  EXPECT_TRUE(contains(e, "'train.grad_clip' must be at least 0, got -0.5")) << e;
  e = error("[optimizer]\nbeta1 = 1.0\n");
  EXPECT_TRUE(contains(e, "'optimizer.beta1' must be less than 1, got 1")) << e;
  EXPECT_EQ(Config::parse("[optimizer]\nbeta1 = 0.999999\n", "job.toml", ranged)
                .get_float("optimizer.beta1"),
            0.999999);
  // The bounds themselves pass.
  const Config ok = Config::parse("[train]\nseq_len = 1\ngrad_clip = 0\n", "job.toml", ranged,
                                  {"parallel.timeout_s=3600"});
  EXPECT_EQ(ok.get_int("train.seq_len"), 1);
  EXPECT_EQ(ok.get_float("parallel.timeout_s"), 3600.0);
  // A declaration whose default is out of range, or a range on a non-number, is a bug.
  EXPECT_TRUE(contains(test::error_message([] { Schema({int_field("a.b", 0, "").at_least(1)}); }),
                       "the default of 'a.b' must be at least 1"));
  EXPECT_TRUE(
      contains(test::error_message([] { Schema({string_field("a.s", "", "").at_least(1)}); }),
               "cannot have a range"));
}

// A directory given as the job file is named as such (it used to read as an empty file).
TEST(Config, DirectoryAsJobFileIsRefused) {
  const std::string e = test::error_message([] { Config::load(::testing::TempDir(), schema()); });
  EXPECT_TRUE(contains(e, "is a directory")) << e;
  EXPECT_TRUE(contains(e, ::testing::TempDir())) << e;
}

// A checkpoint's saved config yields its ints; anything else gives nothing (never an error).
TEST(Config, PeekSavedInt) {
  EXPECT_EQ(Config::peek_saved_int("[train]\nsteps = 40\n", "train.steps"), 40);
  EXPECT_EQ(Config::peek_saved_int("[train]\nsteps = \"x\"\n", "train.steps"), std::nullopt);
  EXPECT_EQ(Config::peek_saved_int("[train\n", "train.steps"), std::nullopt);
  EXPECT_EQ(Config::peek_saved_int("", "train.steps"), std::nullopt);
}

// How a relative value of a path field in a job file is resolved against the file's folder.
TEST(Config, ResolvePath) {
  EXPECT_EQ(resolve_path("shards/train", "jobs/tiny", PathKind::path), "jobs/tiny/shards/train");
  EXPECT_EQ(resolve_path("../../runs", "jobs/tiny", PathKind::path), "runs");
  EXPECT_EQ(resolve_path("x", ".", PathKind::path), "x");
  EXPECT_EQ(resolve_path("/abs/x", "jobs", PathKind::path), "/abs/x");
  EXPECT_EQ(resolve_path("", "jobs", PathKind::path), "");
  EXPECT_EQ(resolve_path("x", "", PathKind::path), "x");      // no folder: as given
  EXPECT_EQ(resolve_path("x", "jobs", PathKind::none), "x");  // not a path field
  // Plugins: a bare name is a name; a file name or path is a library beside the job file, and
  // keeps a '/' so that the loader does not search its own path for it.
  EXPECT_EQ(resolve_path("qwen2", "jobs", PathKind::plugin), "qwen2");
  EXPECT_EQ(resolve_path("red.so", "jobs", PathKind::plugin), "jobs/red.so");
  EXPECT_EQ(resolve_path("./red.so", ".", PathKind::plugin), "./red.so");
  EXPECT_EQ(resolve_path("red.so", ".", PathKind::plugin), "./red.so");
  EXPECT_EQ(resolve_path("lib/red", "/j", PathKind::plugin), "/j/lib/red");
}
