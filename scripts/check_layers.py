#!/usr/bin/env python3
"""Fails when an #include crosses a layer the wrong way (docs/ARCHITECTURE.md, "What may include
what"), or when a job config is read by key outside option parsing. Usage: check_layers.py [ROOT]
(default: the repository this script is in).

Each source file belongs to a part (core/<concern>, parallel, plugins, rewards, rewards/learned,
world, jobs/train, jobs, bench, tests); each quoted include is resolved to the part that owns the
header, and must be one the file's part may use. Angle-bracket includes (system and third-party
headers) are not checked here."""
import os
import re
import sys

# What each part may include, besides itself. Lower layers first.
ALLOWED = {
    # Tensors, autograd and ops are one layer in two folders: Tensor::to/contiguous and gradient
    # accumulation are ops, and ops are built on tensors.
    "core/tensor": {"core/ops"},
    "core/config": {"core/tensor"},
    "core/ops": {"core/tensor"},
    "core/nn": {"core/tensor", "core/ops", "core/config"},
    "core/io": {"core/tensor", "core/config"},
    "core/data": {"core/tensor", "core/io"},
    "parallel": {"core"},
    "reward_abi": set(),
    "plugins": {"core", "parallel", "reward_abi"},
    "world": {"core"},
    "rewards": {"reward_abi", "world"},
    # Learned rewards (rewards/judge, rewards/realism) run a model: they are loaded at run time,
    # linked by nothing, and may use everything a stage does.
    "rewards/learned": {"reward_abi", "world", "core", "parallel", "plugins", "jobs/train", "jobs"},
    "jobs/train": {"core", "parallel"},
    "jobs": {"core", "parallel", "plugins", "reward_abi", "world", "jobs/train"},
    "bench": None,  # may include anything
    "tests": None,
}
CORE_CONCERNS = ["tensor", "config", "ops", "nn", "io", "data"]
LEARNED_REWARDS = ("judge", "realism")
SOURCE_EXT = (".h", ".hpp", ".c", ".cc", ".cpp", ".cu", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# Config getters (config.get_int("train.steps")): only option parsing reads a job file by key,
# in the config code itself and in files named *options.cpp or *_job.cpp.
CONFIG_GETTER = re.compile(r"\.get_(int|float|bool|string|strings|table)\(")


def parses_options(rel):
    name = os.path.basename(rel)
    return (rel.startswith("core/src/config/") or rel.startswith("tests/")
            or name.endswith("options.cpp") or name.endswith("_job.cpp"))


def part_of_file(rel):
    """The part a repository-relative source path belongs to, or None (not checked)."""
    p = rel.split("/")
    if p[0] == "core":
        for concern in CORE_CONCERNS:
            if concern in p[1:4]:  # core/src/<c>/..., core/include/xomni/core/<c>/...
                return "core/" + concern
        return None
    if p[0] == "rewards" and p[1:3] == ["include", "xomni"]:
        return "reward_abi"
    if p[0] == "rewards" and len(p) > 1 and p[1] in LEARNED_REWARDS:
        return "rewards/learned"
    if p[0] == "jobs" and len(p) > 1 and p[1] == "train":
        return "jobs/train"
    if p[0] in ("parallel", "plugins", "rewards", "world", "jobs", "bench", "tests"):
        return p[0]
    return None


def part_of_include(path, including_rel):
    """The part that owns the included header."""
    m = re.match(r"xomni/core/([a-z_]+)/", path)
    if m:
        return "core/" + m.group(1)
    if path == "xomni/reward.h":
        return "reward_abi"
    for prefix, part in (("xomni/parallel/", "parallel"), ("xomni/plugins/", "plugins"),
                         ("xomni/qwen2/", "plugins"), ("xomni/bpe/", "plugins"),
                         ("xomni/siglip_vq/", "plugins"), ("xomni/flow_decoder/", "plugins"),
                         ("xomni/world/", "world"), ("train/", "jobs/train"), ("lm/", "jobs"),
                         ("codec/", "jobs"), ("common/", "jobs"), ("rl/", "jobs"),
                         ("realism/", "jobs"), ("mm/", "jobs"), ("study/", "jobs")):
        if path.startswith(prefix):
            return part
    # core's private headers: "<concern>/<name>.h" under core/src.
    first = path.split("/")[0]
    if including_rel.startswith("core/") and first in CORE_CONCERNS and "/" in path:
        return "core/" + first
    return part_of_file(including_rel)  # a header of the file's own folder


def allowed(src, dst):
    if src == dst or ALLOWED[src] is None:
        return True
    for a in ALLOWED[src]:
        if dst == a or dst.startswith(a + "/"):
            return True
    return False


def check(root):
    problems = []
    for top in ("core", "parallel", "plugins", "rewards", "world", "jobs", "bench", "tests"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "fixtures")]
            for name in filenames:
                if not name.endswith(SOURCE_EXT):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                src = part_of_file(rel)
                if src is None:
                    continue
                with open(full, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        if CONFIG_GETTER.search(line) and not parses_options(rel):
                            problems.append(f"{rel}:{lineno}: reads a job config by key outside "
                                            "option parsing (parse it once into an options "
                                            "struct in a *options.cpp or *_job.cpp file)")
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        dst = part_of_include(m.group(1), rel)
                        if dst is not None and not allowed(src, dst):
                            problems.append(f"{rel}:{lineno}: {src} may not include "
                                            f"\"{m.group(1)}\" ({dst})")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    problems = sorted(check(root))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s); see docs/ARCHITECTURE.md")
        return 1
    print("layers: every include goes down or sideways as docs/ARCHITECTURE.md allows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
