// xomni report study: the report as Markdown and as one self-contained HTML file (every image
// inlined as a data:image/png;base64 URI, so the file can be mailed or archived alone). Text may
// use **bold** and `code`; everything else is escaped.
#include <fstream>
#include <sstream>

#include "cmd_report_study.h"
#include "xomni/core/tensor/error.h"

namespace xomni::cli::report {
namespace {

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Escapes, then turns **x** into <strong>x</strong> and `x` into <code>x</code>.
std::string html_inline(const std::string& s) {
  const std::string e = html_escape(s);
  std::string out;
  bool strong = false, code = false;
  for (size_t i = 0; i < e.size(); ++i) {
    if (!code && e.compare(i, 2, "**") == 0) {
      out += strong ? "</strong>" : "<strong>";
      strong = !strong;
      ++i;
    } else if (e[i] == '`') {
      out += code ? "</code>" : "<code>";
      code = !code;
    } else {
      out += e[i];
    }
  }
  if (strong) out += "</strong>";
  if (code) out += "</code>";
  return out;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  XOMNI_CHECK(in, "report study: cannot read ", file.string(), " to inline it");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* const kStyle =
    "body{font-family:'DejaVu Sans',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:0.8em 0}th,td{border:1px solid #ccc;"
    "padding:3px 8px}th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:"
    "tabular-nums}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}figcaption{"
    "color:#555;font-size:0.9em}code{background:#f3f3f3;padding:0 3px}";

}  // namespace

std::string base64(const std::string& bytes) {
  static const char* const digits =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (n > 1) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    if (n > 2) v |= uint32_t(uint8_t(bytes[i + 2]));
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += n > 1 ? digits[(v >> 6) & 63] : '=';
    out += n > 2 ? digits[v & 63] : '=';
  }
  return out;
}

std::string render_markdown(const std::vector<Block>& doc) {
  std::ostringstream out;
  for (const Block& b : doc) {
    switch (b.kind) {
      case Block::kHeading:
        out << std::string(size_t(b.level), '#') << ' ' << b.text << "\n\n";
        break;
      case Block::kParagraph:
        out << b.text << "\n\n";
        break;
      case Block::kList:
        for (const auto& item : b.rows) out << "- " << item.at(0) << '\n';
        out << '\n';
        break;
      case Block::kImage:
        out << "![" << b.text << "](" << b.image << ")\n\n*" << b.text << "*\n\n";
        break;
      case Block::kTable: {
        out << '|';
        for (const std::string& h : b.header) out << ' ' << md_cell(h) << " |";
        out << "\n|";
        for (size_t i = 0; i < b.header.size(); ++i)
          out << (i < b.numeric.size() && b.numeric[i] ? "---:|" : "---|");
        out << '\n';
        for (const auto& row : b.rows) {
          out << '|';
          for (const std::string& c : row) out << ' ' << md_cell(c) << " |";
          out << '\n';
        }
        out << '\n';
        break;
      }
    }
  }
  return out.str();
}

std::string render_html(const std::vector<Block>& doc, const fs::path& out,
                        const std::string& title) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
    << html_escape(title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
  for (const Block& b : doc) {
    switch (b.kind) {
      case Block::kHeading:
        h << "<h" << b.level << '>' << html_inline(b.text) << "</h" << b.level << ">\n";
        break;
      case Block::kParagraph:
        h << "<p>" << html_inline(b.text) << "</p>\n";
        break;
      case Block::kList:
        h << "<ul>\n";
        for (const auto& item : b.rows) h << "<li>" << html_inline(item.at(0)) << "</li>\n";
        h << "</ul>\n";
        break;
      case Block::kImage:
        h << "<figure><img alt=\"" << html_escape(b.text) << "\" src=\"data:image/png;base64,"
          << base64(read_bytes(out / b.image)) << "\"><figcaption>" << html_inline(b.text)
          << "</figcaption></figure>\n";
        break;
      case Block::kTable: {
        h << "<table>\n<tr>";
        for (const std::string& c : b.header) h << "<th>" << html_inline(c) << "</th>";
        h << "</tr>\n";
        for (const auto& row : b.rows) {
          h << "<tr>";
          for (size_t i = 0; i < row.size(); ++i)
            h << (i < b.numeric.size() && b.numeric[i] ? "<td class=\"n\">" : "<td>")
              << html_inline(row[i]) << "</td>";
          h << "</tr>\n";
        }
        h << "</table>\n";
        break;
      }
    }
  }
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace xomni::cli::report
