"""Replaces (or appends) one '## ' section of a Markdown file with the text of another file.

usage: replace_section.py DOC.md SECTION.md   (SECTION.md starts with its '## ' heading)
"""
import sys


def main():
    doc_path, section_path = sys.argv[1:3]
    section = open(section_path).read().rstrip("\n") + "\n"
    heading = section.splitlines()[0]
    lines = open(doc_path).read().splitlines(keepends=True)
    out, skipping, replaced = [], False, False
    for line in lines:
        if line.rstrip("\n") == heading:
            out.append(section + "\n")
            skipping, replaced = True, True
            continue
        if skipping and line.startswith("## "):
            skipping = False
        if not skipping:
            out.append(line)
    if not replaced:
        out.append("\n" + section)
    open(doc_path, "w").write("".join(out))


if __name__ == "__main__":
    main()
