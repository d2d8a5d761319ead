// Multimodal documents (jobs/mm): ids and loss masks of generation, understanding and text
// documents against the tokenizer's own encoding of the whole sequence spelt out as text (special
// tokens allowed), special-token ids against the BPE trainer's documented layout, and the errors
// for a tokenizer without the special tokens and for bad image codes.
#include <gtest/gtest.h>

#include "check.h"
#include "cli_tokenizer.h"
#include "mm/mm_documents.h"

using namespace xomni;
using xomni::test::error_message;

namespace {

const std::vector<std::string> kTexts = {"a red circle left of a blue square",
                                         "two green triangles",
                                         "What colour is the circle?",
                                         "red",
                                         "How many triangles are there?",
                                         "2",
                                         "a small yellow square above a big circle"};

std::unique_ptr<plugins::TextTokenizer> mm_tokenizer() {
  return cli::train_tokenizer(kTexts, 300, {mm::kEndOfText, mm::kSom, mm::kEom, mm::kImage});
}

std::vector<int32_t> encode(const plugins::TextTokenizer& tok, const std::string& text,
                            bool allow_special) {
  const std::vector<int64_t> ids = tok.encode(text, allow_special);
  return {ids.begin(), ids.end()};
}

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// mask: `zeros` zeros then `ones` ones.
std::vector<uint8_t> mask(size_t zeros, size_t ones) {
  std::vector<uint8_t> m(zeros, 0);
  m.insert(m.end(), ones, 1);
  return m;
}

const mm::ImageCodes kImage{2, 3, {5, 0, 15, 7, 7, 1}};  // a 2x3 grid of a 16-code book

}  // namespace

TEST(MmDocuments, SpecialTokensAreTheTrainersLastFourIds) {
  const auto tok = mm_tokenizer();
  const int64_t V = tok->vocab_size();
  ASSERT_GT(V, 260);  // the corpus is too small for all 300 entries
  ASSERT_LE(V, 300);
  // The trainer appends the special tokens after the learnt entries, in the order given.
  const mm::SpecialTokenIds s = mm::find_special_tokens(*tok, "test");
  EXPECT_EQ(s.eos, V - 4);
  EXPECT_EQ(s.som, V - 3);
  EXPECT_EQ(s.eom, V - 2);
  EXPECT_EQ(s.image, V - 1);
}

TEST(MmDocuments, GenerationDocument) {
  const auto tok = mm_tokenizer();
  const int64_t V = tok->vocab_size();
  const mm::DocumentBuilder b(*tok, 16, "test");
  const std::string caption = "two green triangles";
  const mm::Document d = b.generation(caption, kImage);
  const std::vector<int32_t> prefix = encode(*tok, caption + "<SOM>2 3<IMAGE>", true);
  const std::vector<int32_t> codes = {int32_t(V + 5), int32_t(V + 0), int32_t(V + 15),
                                      int32_t(V + 7), int32_t(V + 7), int32_t(V + 1)};
  EXPECT_EQ(d.ids, concat({prefix, codes, {int32_t(V - 2)}}));
  EXPECT_EQ(d.mask, mask(prefix.size(), 7));  // the 6 codes and <EOM>
  EXPECT_EQ(d.supervised(), 7);
  // The grid is plain text: "2 3" between <SOM> and <IMAGE>.
  const std::vector<int32_t> grid = encode(*tok, "2 3", false);
  const size_t som = prefix.size() - grid.size() - 2;
  EXPECT_EQ(prefix[som], V - 3);
  EXPECT_EQ(std::vector<int32_t>(prefix.begin() + long(som) + 1, prefix.end() - 1), grid);
  EXPECT_EQ(prefix.back(), V - 1);
}

TEST(MmDocuments, UnderstandingAndCaptioningDocuments) {
  const auto tok = mm_tokenizer();
  const int64_t V = tok->vocab_size();
  const mm::DocumentBuilder b(*tok, 16, "test");
  const mm::Document d = b.understanding(kImage, "What colour is the circle?", "red");
  const std::vector<int32_t> image =
      concat({encode(*tok, "<SOM>2 3<IMAGE>", true),
              {int32_t(V + 5), int32_t(V + 0), int32_t(V + 15), int32_t(V + 7), int32_t(V + 7),
               int32_t(V + 1), int32_t(V - 2)}});
  const std::vector<int32_t> question = encode(*tok, "What colour is the circle?\n", false);
  const std::vector<int32_t> answer = encode(*tok, "red", false);
  EXPECT_EQ(d.ids, concat({image, question, answer, {int32_t(V - 4)}}));
  EXPECT_EQ(d.mask, mask(image.size() + question.size(), answer.size() + 1));
  // The text after the image reads back as question, newline, answer.
  const std::vector<int64_t> tail(d.ids.begin() + long(image.size()), d.ids.end());
  EXPECT_EQ(tok->decode(tail, /*skip_special=*/false),
            "What colour is the circle?\nred<|endoftext|>");

  const mm::Document c = b.understanding(kImage, mm::kCaptionQuestion, "two green triangles");
  const std::vector<int64_t> ctail(c.ids.begin() + long(image.size()), c.ids.end());
  EXPECT_EQ(tok->decode(ctail, false), "Describe the image.\ntwo green triangles<|endoftext|>");
  EXPECT_EQ(c.supervised(), int64_t(encode(*tok, "two green triangles", false).size()) + 1);
}

// Several turns after one image: the image once, then each question and its supervised answer.
TEST(MmDocuments, UnderstandingDocumentWithSeveralTurns) {
  const auto tok = mm_tokenizer();
  const int64_t V = tok->vocab_size();
  const mm::DocumentBuilder b(*tok, 16, "test");
  const mm::Document one = b.understanding(kImage, "How many circles?", "2");
  const mm::Document two =
      b.understanding(kImage, {{"How many circles?", "2"}, {"Is there a square?", "no"}});
  const std::vector<int32_t> q2 = encode(*tok, "Is there a square?\n", false);
  const std::vector<int32_t> a2 = encode(*tok, "no", false);
  EXPECT_EQ(two.ids, concat({one.ids, q2, a2, {int32_t(V - 4)}}));
  std::vector<uint8_t> want = one.mask;
  want.insert(want.end(), q2.size(), 0);
  want.insert(want.end(), a2.size() + 1, 1);
  EXPECT_EQ(two.mask, want);
  EXPECT_EQ(two.supervised(), one.supervised() + int64_t(a2.size()) + 1);
}

TEST(MmDocuments, TextDocumentCountsEveryTokenAndKeepsSpecialSpellingsAsText) {
  const auto tok = mm_tokenizer();
  const int64_t V = tok->vocab_size();
  const mm::DocumentBuilder b(*tok, 0, "test");
  const mm::Document d = b.text("a red <SOM> circle");
  const std::vector<int32_t> text = encode(*tok, "a red <SOM> circle", false);
  EXPECT_EQ(d.ids, concat({text, {int32_t(V - 4)}}));
  EXPECT_EQ(d.mask, mask(0, text.size() + 1));
  EXPECT_EQ(std::count(d.ids.begin(), d.ids.end(), int32_t(V - 3)), 0);  // no <SOM> id
  // A caption with a special token's spelling stays text in a generation document too.
  const mm::DocumentBuilder ib(*tok, 16, "test");
  const mm::Document g = ib.generation("<EOM>", kImage);
  EXPECT_EQ(std::count(g.ids.begin(), g.ids.end(), int32_t(V - 2)), 1);  // only the real <EOM>
}

TEST(MmDocuments, MissingSpecialTokensAreNamed) {
  const auto plain = cli::train_tokenizer(kTexts, 300, {mm::kEndOfText, mm::kEom});
  const std::string msg =
      error_message([&] { mm::DocumentBuilder(*plain, 16, "--tokenizer t.json"); });
  EXPECT_TRUE(test::contains(msg,
                             "--tokenizer t.json: the text tokenizer has no special token "
                             "<SOM>, <IMAGE>"))
      << msg;
  EXPECT_TRUE(test::contains(msg, "xomni data mm-tokenizer")) << msg;
}

TEST(MmDocuments, BadImageCodesAreRefused) {
  const auto tok = mm_tokenizer();
  const mm::DocumentBuilder b(*tok, 16, "test");
  std::string msg = error_message([&] { b.generation("x", {2, 3, {1, 2, 3, 4, 5, 16}}); });
  EXPECT_TRUE(test::contains(msg, "image code 5 is 16, outside the image vocabulary [0, 16)"))
      << msg;
  msg = error_message([&] { b.understanding({2, 3, {1, 2, 3}}, "q", "a"); });
  EXPECT_TRUE(test::contains(msg, "grid 2x3 has 3 codes")) << msg;
}
