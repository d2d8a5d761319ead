#pragma once
// The texts of a multimodal corpus: the captions, questions and answers of image datasets and the
// paragraphs (text between blank lines) of text files; what the shared text tokenizer learns from
// and what the text-LM stage's documents are made of.
#include <string>
#include <vector>

namespace xomni::mm {

// Every caption, question and answer of the samples of `image_dirs`, one string each, in order.
std::vector<std::string> image_dataset_texts(const std::vector<std::string>& image_dirs);

// The paragraphs of each file (lines joined with "\n", blank lines separate paragraphs; a file
// that cannot be read is an Error naming it).
std::vector<std::string> file_paragraphs(const std::vector<std::string>& files);

}  // namespace xomni::mm
