// The packed-sequence loader: packing checked against arrays worked out by hand, document-boundary
// and coverage invariants, deterministic shuffling, the data-parallel split, resumable positions
// and loss masks. All comparisons are exact (integers).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <set>

#include "check.h"
#include "token_data_test_util.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"

using namespace xomni;
using namespace xomni::token_test;
using xomni::test::error_message;

namespace {

// ---------------------------------------------------------------------------------------------
// Packing

// One document [10 .. 14], seq_len 3 (rows of 4 tokens), so the shuffle is the identity and the
// stream is 10 11 12 13 14 | 10 11 12 13 14 | ... (one epoch per document pass):
//   row 0: 10 11 12 13        seg 0 0 0 0  pos 0 1 2 3
//   row 1: 14 | 10 11 12      seg 0 1 1 1  pos 4 0 1 2
//   row 2: 13 14 | 10 11      seg 0 0 1 1  pos 3 4 0 1
//   row 3: 12 13 14 | 10      seg 0 0 0 1  pos 2 3 4 0
//   row 4: 11 12 13 14        seg 0 0 0 0  pos 1 2 3 4
// input = row[0:3], target = row[1:4] with -100 where the segment changes.
TEST(PackedLoader, HandWorkedSingleDocumentAcrossEpochs) {
  PackedLoader loader(TokenDataset::from_documents({{10, 11, 12, 13, 14}}, 20), 3, 2, 5);
  PackedBatch b0 = loader.next();
  EXPECT_EQ(b0.input.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(b0.input), (std::vector<int64_t>{10, 11, 12, 14, 10, 11}));
  EXPECT_EQ(values(b0.target), (std::vector<int64_t>{11, 12, 13, -100, 11, 12}));
  EXPECT_EQ(values(b0.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(values(b0.positions), (std::vector<int64_t>{0, 1, 2, 4, 0, 1}));
  EXPECT_EQ(loader.epoch(), 1);  // 8 tokens taken: epoch 1 is at offset 3
  EXPECT_EQ(loader.state(), (std::vector<int64_t>{1, 5, 3, 1, 5, 1, 0, 3, 2}));
  PackedBatch b1 = loader.next();
  EXPECT_EQ(values(b1.input), (std::vector<int64_t>{13, 14, 10, 12, 13, 14}));
  EXPECT_EQ(values(b1.target), (std::vector<int64_t>{14, -100, 11, 13, 14, -100}));
  EXPECT_EQ(values(b1.segment_ids), (std::vector<int64_t>{0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(values(b1.positions), (std::vector<int64_t>{3, 4, 0, 2, 3, 4}));
  PackedBatch b2 = loader.next();  // row 4, then row 5 == row 0
  EXPECT_EQ(values(b2.input), (std::vector<int64_t>{11, 12, 13, 10, 11, 12}));
  EXPECT_EQ(values(b2.target), (std::vector<int64_t>{12, 13, 14, 11, 12, 13}));
  EXPECT_EQ(values(b2.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(values(b2.positions), (std::vector<int64_t>{1, 2, 3, 0, 1, 2}));
  // 24 tokens taken: epochs 0..3 complete, epoch 4 at offset 4; 6 rows.
  EXPECT_EQ(loader.state(), (std::vector<int64_t>{1, 5, 3, 1, 5, 4, 0, 4, 6}));
}

// Documents A = [1 2 3], B = [4 5], C = [6 .. 12], seq_len 4 (rows of 5), seed 7, whose epoch 0
// order is pinned below as C, A, B (a regression pin of the Philox shuffle). The stream is
// 6 7 8 9 10 11 12 | 1 2 3 | 4 5, so
//   row 0: 6 7 8 9 10          seg 0 0 0 0 0  pos 0 1 2 3 4
//   row 1: 11 12 | 1 2 3       seg 0 0 1 1 1  pos 5 6 0 1 2
// and row 2 starts with B: 4 5 | (epoch 1's first document).
TEST(PackedLoader, HandWorkedThreeDocuments) {
  const Docs docs = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9, 10, 11, 12}};
  PackedLoader loader(TokenDataset::from_documents(docs, 16), 4, 2, 7);
  ASSERT_EQ(loader.epoch_order(0), (std::vector<int64_t>{2, 0, 1}));
  const std::vector<int64_t> next_order = loader.epoch_order(1);
  PackedBatch b = loader.next();
  EXPECT_EQ(values(b.input), (std::vector<int64_t>{6, 7, 8, 9, 11, 12, 1, 2}));
  EXPECT_EQ(values(b.target), (std::vector<int64_t>{7, 8, 9, 10, 12, -100, 2, 3}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 3, 5, 6, 0, 1}));
  // Row 2: 4 5, then the first three tokens of epoch 1's first document.
  const std::vector<int32_t>& first = docs[size_t(next_order[0])];
  std::vector<int64_t> expect_row = {4, 5};
  for (size_t k = 0; k < 3 && k < first.size(); ++k) expect_row.push_back(first[k]);
  PackedBatch c = loader.next();
  EXPECT_EQ(row(c.input, 0), (std::vector<int64_t>(expect_row.begin(), expect_row.begin() + 4)));
  EXPECT_EQ(row(c.target, 0)[0], 5);
  EXPECT_EQ(row(c.target, 0)[1], -100);
  EXPECT_EQ(row(c.segment_ids, 0), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(row(c.positions, 0), (std::vector<int64_t>{0, 1, 0, 1}));
}

// Empty documents are skipped. Documents {10 11} and {12 13 14} (plus three empty ones) with
// seq_len 4: each row is exactly one epoch, in one of two orders worked out by hand:
//   {10 11} first: input 10 11 12 13, target 11 -100 13 14, seg 0 0 1 1, pos 0 1 0 1
//   {12 13 14} first: input 12 13 14 10, target 13 14 -100 11, seg 0 0 0 1, pos 0 1 2 0
TEST(PackedLoader, HandWorkedEmptyDocumentsAreSkipped) {
  PackedLoader loader(TokenDataset::from_documents({{}, {10, 11}, {}, {12, 13, 14}, {}}, 16), 4, 1,
                      21);
  std::set<bool> seen_orders;
  for (int64_t e = 0; e < 8; ++e) {
    const std::vector<int64_t> order = loader.epoch_order(e);
    const bool short_first =
        std::find(order.begin(), order.end(), 1) < std::find(order.begin(), order.end(), 3);
    seen_orders.insert(short_first);
    const PackedBatch b = loader.next();
    if (short_first) {
      EXPECT_EQ(values(b.input), (std::vector<int64_t>{10, 11, 12, 13})) << "epoch " << e;
      EXPECT_EQ(values(b.target), (std::vector<int64_t>{11, -100, 13, 14}));
      EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 1, 1}));
      EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 0, 1}));
    } else {
      EXPECT_EQ(values(b.input), (std::vector<int64_t>{12, 13, 14, 10})) << "epoch " << e;
      EXPECT_EQ(values(b.target), (std::vector<int64_t>{13, 14, -100, 11}));
      EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 1}));
      EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 0}));
    }
    EXPECT_EQ(loader.epoch(), e + 1);
  }
  EXPECT_EQ(seen_orders.size(), 2u) << "both orders should occur within 8 epochs";
}

// With unique token ids (id = global token index) every token maps back to (document, index).
struct TokenIndex {
  std::vector<int64_t> doc, pos;
  explicit TokenIndex(const Docs& docs) {
    for (size_t d = 0; d < docs.size(); ++d)
      for (size_t k = 0; k < docs[d].size(); ++k)
        doc.push_back(int64_t(d)), pos.push_back(int64_t(k));
  }
};

TEST(PackedLoader, NoTargetCrossesADocumentBoundary) {
  const Docs docs = make_docs(30, 15, 4, true);
  const TokenIndex idx(docs);
  PackedLoader loader(TokenDataset::from_documents(docs, 100000), 16, 3, 11);
  int64_t ignored = 0;
  for (int step = 0; step < 20; ++step) {
    const PackedBatch b = loader.next();
    const std::vector<int64_t> in = values(b.input), tg = values(b.target),
                               seg = values(b.segment_ids), pos = values(b.positions);
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t t = 0; t < 16; ++t) {
        const size_t i = size_t(r * 16 + t);
        const int64_t d = idx.doc[size_t(in[i])], k = idx.pos[size_t(in[i])];
        EXPECT_EQ(pos[i], k) << "position of token " << in[i];
        const bool last_of_doc = k + 1 == int64_t(docs[size_t(d)].size());
        if (last_of_doc) {
          EXPECT_EQ(tg[i], -100) << "target after the last token of document " << d;
        } else if (tg[i] != -100) {
          EXPECT_EQ(tg[i], in[i] + 1) << "target must be the next token of document " << d;
        }
        if (tg[i] == -100) ++ignored;
        if (t + 1 < 16) {
          // Inside a row the segment id steps exactly where a new document starts at 0.
          const bool same = seg[i + 1] == seg[i];
          EXPECT_EQ(same, !last_of_doc);
          if (same) {
            EXPECT_EQ(tg[i], in[i + 1]);
          } else {
            EXPECT_EQ(seg[i + 1], seg[i] + 1);
            EXPECT_EQ(pos[i + 1], 0);
          }
        }
        if (t == 0) {
          EXPECT_EQ(seg[i], 0);
        }
      }
  }
  EXPECT_GT(ignored, 0);
}

TEST(PackedLoader, EveryTokenOfAnEpochOnceAsInputOrLastTarget) {
  // 26 documents of 1..9 tokens; seq_len 4 (rows of 5). The epoch's token count is made a
  // multiple of 5 so that epochs end at a row boundary and each epoch is a whole number of rows.
  Docs docs = make_docs(26, 9, 5, true);
  int64_t total = 0;
  for (const auto& d : docs) total += int64_t(d.size());
  while (total % 5 != 0) docs.back().push_back(int32_t(total++));
  const TokenIndex idx(docs);
  const int64_t rows_per_epoch = total / 5;
  PackedLoader loader(TokenDataset::from_documents(docs, 100000), 4, 1, 3);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int> seen(size_t(total), 0);
    int64_t hidden = 0;  // rows whose last token starts a document (its target is -100)
    for (int64_t r = 0; r < rows_per_epoch; ++r) {
      const PackedBatch b = loader.next();
      const std::vector<int64_t> in = values(b.input), tg = values(b.target);
      for (int64_t v : in) ++seen[size_t(v)];
      if (tg[3] != -100) {
        ++seen[size_t(tg[3])];
      } else {  // in[3] ends its document, so row[4] is the first token of the next one
        ++hidden;
        EXPECT_EQ(idx.pos[size_t(in[3])] + 1, int64_t(docs[size_t(idx.doc[size_t(in[3])])].size()));
      }
    }
    EXPECT_EQ(loader.epoch(), epoch + 1);
    // A missing token may only be a document's first token sitting at a row's end.
    int64_t missing = 0;
    for (int64_t v = 0; v < total; ++v) {
      EXPECT_LE(seen[size_t(v)], 1) << "token " << v << " seen twice in epoch " << epoch;
      if (seen[size_t(v)] == 0) {
        ++missing;
        EXPECT_EQ(idx.pos[size_t(v)], 0) << "token " << v << " missing in epoch " << epoch;
      }
    }
    EXPECT_EQ(missing, hidden);
  }
}

TEST(PackedLoader, ShuffleIsDeterministicPerSeedAndEpoch) {
  const TokenDataset ds = TokenDataset::from_documents(make_docs(50, 6, 6, true), 100000);
  PackedLoader a(ds, 8, 2, 42), b(ds, 8, 2, 42), c(ds, 8, 2, 43);
  const std::vector<int64_t> o0 = a.epoch_order(0), o1 = a.epoch_order(1);
  std::vector<int64_t> sorted = o0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[size_t(i)], i) << "not a permutation";
  EXPECT_EQ(b.epoch_order(0), o0);
  EXPECT_EQ(b.epoch_order(1), o1);
  EXPECT_NE(o0, o1);
  EXPECT_NE(c.epoch_order(0), o0);
  std::vector<int64_t> identity(50);
  std::iota(identity.begin(), identity.end(), int64_t(0));
  EXPECT_NE(o0, identity);
  // The batches follow the order: the first row starts with the first document of o0.
  const Rows ra = take_rows(a, 30), rb = take_rows(b, 30), rc = take_rows(c, 30);
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  EXPECT_EQ(ra[0][0], int64_t(ds.document(o0[0])[0]));
  EXPECT_GE(a.epoch(), 1);  // 30 batches of 2 x 9 tokens > one epoch of at most 300 tokens
}

TEST(PackedLoader, DataParallelRanksInterleaveIntoTheSingleRankStream) {
  const TokenDataset ds = TokenDataset::from_documents(make_docs(20, 13, 7, true), 100000);
  PackedLoader single(ds, 5, 1, 9);
  const Rows global = take_rows(single, 48);
  for (const auto& [dp, batch] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {3, 2}, {4, 1}}) {
    std::vector<Rows> per_rank;
    std::vector<std::vector<int64_t>> states;
    for (int64_t r = 0; r < dp; ++r) {
      PackedLoader loader(ds, 5, batch, 9, r, dp);
      per_rank.push_back(take_rows(loader, int(48 / (dp * batch))));
      states.push_back(loader.state());
    }
    for (size_t g = 0; g < global.size(); ++g)
      EXPECT_EQ(per_rank[g % size_t(dp)][g / size_t(dp)], global[g])
          << "global row " << g << " with dp_size " << dp;
    for (int64_t r = 1; r < dp; ++r) EXPECT_EQ(states[size_t(r)], states[0]);
    EXPECT_EQ(states[0], single.state());
  }
  EXPECT_GE(single.epoch(), 1);
}

TEST(PackedLoader, RestoreContinuesExactlyMidEpochAndAcrossEpochs) {
  const TokenDataset ds = TokenDataset::from_documents(make_docs(12, 11, 8, true), 100000);
  PackedLoader run(ds, 6, 2, 77);
  std::vector<std::vector<int64_t>> states;
  Rows stream;
  for (int i = 0; i < 24; ++i) {
    states.push_back(run.state());
    Rows r = batch_rows(run.next());
    stream.insert(stream.end(), r.begin(), r.end());
  }
  ASSERT_GE(run.epoch(), 3);  // the 24 batches cross several epoch boundaries
  int crossings = 0;
  for (size_t k = 0; k + 4 <= states.size(); ++k) {
    PackedLoader resumed(ds, 6, 2, 77);
    resumed.restore(states[k]);
    EXPECT_EQ(resumed.state(), states[k]);
    const Rows next = take_rows(resumed, 4);
    EXPECT_EQ(next, Rows(stream.begin() + 2 * k, stream.begin() + 2 * k + 8)) << "from batch " << k;
    if (states[k + 3][5] != states[k][5]) ++crossings;
    // Another batch size resumes at the same global row.
    PackedLoader single(ds, 6, 1, 77);
    single.restore(states[k]);
    EXPECT_EQ(take_rows(single, 2), Rows(stream.begin() + 2 * k, stream.begin() + 2 * k + 2));
  }
  EXPECT_GE(crossings, 2);

  PackedLoader other_seed(ds, 6, 2, 78);
  std::string msg = error_message([&] { other_seed.restore(states[3]); });
  EXPECT_NE(msg.find("seed 77"), std::string::npos) << msg;
  PackedLoader other_len(ds, 7, 2, 77);
  msg = error_message([&] { other_len.restore(states[3]); });
  EXPECT_NE(msg.find("seq_len 6"), std::string::npos) << msg;
  msg = error_message([&] { run.restore({1, 2, 3}); });
  EXPECT_NE(msg.find("not a packed-loader state"), std::string::npos) << msg;
}
TEST(PackedLoader, BatchTooLargeForMemoryNamesTheSettings) {
  const TokenDataset ds = TokenDataset::from_documents({{1, 2, 3}}, 4);
  for (const auto& [T, B] : {std::pair<int64_t, int64_t>{int64_t(1) << 40, 1 << 20},
                             std::pair<int64_t, int64_t>{int64_t(1) << 62, 4},
                             std::pair<int64_t, int64_t>{int64_t(1) << 30, 64},
                             std::pair<int64_t, int64_t>{std::numeric_limits<int64_t>::max(), 1}}) {
    const std::string msg = error_message([&] { PackedLoader(ds, T, B, 0); });
    EXPECT_TRUE(test::contains(msg, "train.batch_size=" + std::to_string(B))) << msg;
    EXPECT_TRUE(test::contains(msg, "train.seq_len=" + std::to_string(T))) << msg;
  }
}

TEST(PackedLoader, RejectsBadArguments) {
  const TokenDataset ds = TokenDataset::from_documents({{1, 2}}, 4);
  EXPECT_THROW(PackedLoader(ds, 0, 1, 0), Error);
  EXPECT_THROW(PackedLoader(ds, 4, 0, 0), Error);
  EXPECT_THROW(PackedLoader(ds, 4, 1, 0, 2, 2), Error);
  EXPECT_THROW(PackedLoader(TokenDataset::from_documents({{}, {}}, 4), 4, 1, 0), Error);
  EXPECT_THROW(TokenDataset::from_documents({{4}}, 4), Error);
}

// The single document [10 .. 14] of HandWorkedSingleDocumentAcrossEpochs with mask 0 0 1 1 0:
// rows, segments, positions and states are as there; a target is -100 also where its token's
// mask is 0 (10, 11 and 14):
//   row 0: 10 11 12 13      targets 11 12 13 -> -100 12 13
//   row 1: 14 | 10 11 12    targets 10 11 12 -> -100 (boundary) -100 12
//   row 2: 13 14 | 10 11    targets 14 10 11 -> -100 -100 (boundary) -100
//   row 3: 12 13 14 | 10    targets 13 14 10 -> 13 -100 -100 (boundary)
TEST(PackedLoader, HandWorkedLossMask) {
  const TokenDataset plain = TokenDataset::from_documents({{10, 11, 12, 13, 14}}, 20);
  const TokenDataset masked =
      TokenDataset::from_documents({{10, 11, 12, 13, 14}}, {{0, 0, 1, 1, 0}}, 20);
  PackedLoader a(plain, 3, 2, 5), b(masked, 3, 2, 5);
  const std::vector<std::vector<int64_t>> expect = {{-100, 12, 13, -100, -100, 12},
                                                    {-100, -100, -100, 13, -100, -100}};
  for (const auto& want : expect) {
    const PackedBatch x = a.next(), y = b.next();
    EXPECT_EQ(values(y.target), want);
    EXPECT_EQ(values(y.input), values(x.input));
    EXPECT_EQ(values(y.segment_ids), values(x.segment_ids));
    EXPECT_EQ(values(y.positions), values(x.positions));
    EXPECT_EQ(b.state(), a.state());
  }
}

// With masks the ranks' rows still interleave into the single-rank stream, and a restored
// loader continues with the same masked targets.
TEST(PackedLoader, LossMaskKeepsDataParallelSplitAndResume) {
  const Docs docs = make_docs(20, 13, 7, true);
  const TokenDataset ds = TokenDataset::from_documents(docs, make_masks(docs), 100000);
  PackedLoader single(ds, 5, 1, 9);
  const Rows global = take_rows(single, 24);
  int64_t ignored = 0;
  for (const auto& r : global) ignored += std::count(r.begin() + 5, r.begin() + 10, -100);
  EXPECT_GT(ignored, 24 * 5 / 4);  // about a third of the targets are masked out
  for (int64_t r = 0; r < 3; ++r) {
    PackedLoader loader(ds, 5, 2, 9, r, 3);
    const Rows mine = take_rows(loader, 4);
    for (size_t j = 0; j < mine.size(); ++j)
      EXPECT_EQ(mine[j], global[size_t(r) + 3 * j]) << "rank " << r << " row " << j;
  }
  PackedLoader first(ds, 5, 2, 9);
  take_rows(first, 5);
  PackedLoader resumed(ds, 5, 2, 9);
  resumed.restore(first.state());
  EXPECT_EQ(take_rows(resumed, 3), Rows(global.begin() + 10, global.begin() + 16));
}

}  // namespace
