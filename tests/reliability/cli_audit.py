#!/usr/bin/env python3
"""A hostile user at the command line: runs every `xomni` subcommand many times with hostile flag
values (negative, zero, huge, NaN, infinite, fractional, empty, non-numeric, directories, /dev/null,
missing and binary files) and checks each run ends within its time limit, by exit status 0 or 1
(or 2 for usage), never by a signal, and with an error that names something: a message that is
only a C++ library's (`stoll`, `stod`, `basic_string`, `bad_alloc`, `vector`, nlohmann's
`[json.exception`) without xomni's own words is an unclear error.

  tests/reliability/cli_audit.py XOMNI [--runs N] [--seed S]

Prints each problem with the command line that caused it; exits 1 if there is any."""
import os
import random
import shutil
import subprocess
import sys
import tempfile

HOSTILE_NUMBERS = ["-1", "0", "1", "-0", "3.5", "1e30", "-1e30", "nan", "inf", "-inf", "abc", "",
                   "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                   "18446744073709551616", "0x10", "1 2", "2147483648", "100000000"]
# Messages that are only a library's words.
UNCLEAR = ["error: stoll", "error: stod", "error: stoi", "error: basic_string", "error: std::bad_alloc",
           "error: vector", "error: map::at", "error: [json.exception", "terminate called",
           "Segmentation fault", "AddressSanitizer", "runtime error:"]


def make_files(root):
    files = {
        "empty": "", "text": "hello world\n", "json_garbage": "{not json",
        "binary": bytes(range(256)) * 4,
        "toml_garbage": "[[[", "toml_ok": "[run]\nname = \"x\"\n",
    }
    paths = {}
    for name, content in files.items():
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        paths[name] = path
    paths["dir"] = root
    paths["missing"] = os.path.join(root, "does-not-exist")
    paths["devnull"] = "/dev/null"
    return paths


def hostile_path(rng, paths):
    return rng.choice(list(paths.values()))


def commands(rng, paths, out):
    """(argv, stdin) pairs for one random run of each command."""
    num = lambda: rng.choice(HOSTILE_NUMBERS)
    # A huge valid count of things to make is a long job, not a hang: such counts skip those.
    count = lambda: rng.choice(["-1", "0", "2", "3.5", "nan", "abc", "", "1e30", "-9223372036854775808"])
    p = lambda: hostile_path(rng, paths)
    o = lambda: os.path.join(out, "o%d" % rng.randrange(1 << 30))
    return [
        (["prepare-text", "--input", p(), "--out", o(), "--vocab-size", num(), "--valid-every", num()], None),
        (["generate", "--model", p(), "--prompt-ids", rng.choice(["1 2 3", "-1", "abc", "99999999999"]),
          "--steps", num(), "--temperature", num(), "--top-k", num(), "--top-p", num(), "--seed", num()], None),
        (["generate", "--checkpoint", p(), "--prompt", "hi", "--tokenizer", p(), "--steps", num()], None),
        (["convert", "--from", p(), "--to", o()], None),
        (["tokenize", "--tokenizer", p()] + rng.choice([[], ["--decode"]]), rng.choice(["1 2 3\n", "hello\n", "\xff\xfe\n", "-5 99999999999\n"])),
        (["timeline", p(), "--out", o() + ".png", "--step", num()], None),
        (["train", p(), "--set", "train.steps=" + num()], None),
        (["train", paths["toml_ok"], "--set", rng.choice(["train.seq_len=", "parallel.timeout_s=", "model.hidden_size=", "train.batch_size=", "optimizer.learning_rate="]) + num()], None),
        (["data", "prompts", "--out", o(), "--train-count", count(), "--train-seed", num()], None),
        (["data", "sheet", p(), "--out", o() + ".png", "--count", num(), "--columns", num()], None),
        (["data", "import", "--images", p(), "--captions", p(), "--out", o(), "--short-edge", num(),
          "--max-long-edge", num(), "--samples-per-shard", num()], None),
        (["data", "check", p()], None),
        (["data", "synth", p(), "--set", "synth.out=" + o(), "--set", "synth.scenes=" + count()], None),
        (["reward", "score", p(), "--image", p(), "--prompt", "x", "--metadata", rng.choice(["{}", "{bad", "[]", "null"])], None),
        (["report", "run", p(), "--out", o(), "--every", num(), "--skip", num()], None),
        (["report", "scaling", p(), "--peak-tflops", num(), "--skip", num()], None),
        (["plugins", "--timeout", num()], None),
        ([rng.choice(["trian", "generat", "", "--version", "report", "data"])], None),
    ]


def main():
    xomni = sys.argv[1]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    rng = random.Random(seed)
    root = tempfile.mkdtemp(prefix="xomni-cli-audit-")
    problems, total = [], 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    try:
        os.makedirs(os.path.join(root, "in"))
        paths = make_files(os.path.join(root, "in"))
        out = os.path.join(root, "out")
        os.makedirs(out)
        for _ in range(runs):
            for argv, stdin in commands(rng, paths, out):
                total += 1
                cmd = [xomni] + argv
                try:
                    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60,
                                       env=env, cwd=root, errors="replace")
                except subprocess.TimeoutExpired:
                    problems.append(("hang (60 s)", cmd))
                    continue
                text = r.stdout + r.stderr
                if r.returncode < 0:
                    problems.append(("killed by signal %d" % -r.returncode, cmd))
                elif r.returncode not in (0, 1, 2):
                    problems.append(("exit status %d" % r.returncode, cmd))
                else:
                    for marker in UNCLEAR:
                        if marker in text:
                            problems.append(("unclear error: " + text.strip().splitlines()[-1][:200], cmd))
                            break
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for what, cmd in problems:
        print("PROBLEM %s\n  %s" % (what, " ".join(repr(a) if (" " in a or not a) else a for a in cmd)))
    print("%d runs, %d problems" % (total, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
