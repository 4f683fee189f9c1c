#!/usr/bin/env python
"""Write the bad-input corpus (tests/reliability/corpus.py) to a folder to look at; optionally run every case.

    python scripts/make_bad_corpus.py                     # -> tests/reliability/corpus/ (git-ignored)
    python scripts/make_bad_corpus.py /tmp/corpus         # or any new folder
    python scripts/make_bad_corpus.py --run               # also run each case through the CLI, print the table
    python scripts/make_bad_corpus.py --run --update-docs # and rewrite the bad-inputs section of docs/reliability.md

Each case is a folder named by its id; ``cases.json`` lists every case with its command line (``{store}`` is the
store a case runs against: a copy of a small good store, or the case's own ``ds/``), expected exit code, outcome
and the fragments the error line must contain. ``--run`` uses the test suite's own runner
(tests/reliability/test_bad_inputs.py), so the table is what the tests see.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.corpus import build_corpus  # noqa: E402
from tests.reliability.test_bad_inputs import DOCS, SECTION, make_template, render_section, run_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / "tests" / "reliability" / "corpus",
                    help="folder to write (replaced if it holds an earlier corpus)")
    ap.add_argument("--run", action="store_true", help="run every case and print the docs section (markdown)")
    ap.add_argument("--update-docs", action="store_true", help="with --run: rewrite the section in docs/reliability.md")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    if out.exists():
        if not (out / "cases.json").is_file():
            ap.error(f"{out} exists and is not an earlier corpus (no cases.json); choose a new folder")
        shutil.rmtree(out)
    cases = build_corpus(out)
    (out / "cases.json").write_text(json.dumps(
        [{**dataclasses.asdict(c), "command": "animeparse -q " + " ".join(c.args)} for c in cases], indent=1))
    print(f"{len(cases)} cases written to {out}", file=sys.stderr)
    if not args.run:
        return 0
    with tempfile.TemporaryDirectory(prefix="animeparse-bad-corpus-run-") as tmp:
        work = Path(tmp)
        template = make_template(work)
        outcomes = []
        for k, case in enumerate(cases):
            outcomes.append(run_case(case, out, template, work / f"case{k}"))
            print(f"{case.id}: {outcomes[-1].result()}", file=sys.stderr)
    section = render_section(outcomes)
    print(section)
    if args.update_docs:
        text = DOCS.read_text(encoding="utf-8")
        start = text.index(SECTION) + len(SECTION)
        end = text.index("<!-- section:", start)
        DOCS.write_text(text[:start] + "\n\n" + section.strip() + "\n\n" + text[end:], encoding="utf-8")
        print(f"updated {DOCS}", file=sys.stderr)
    return 1 if any(o.problems for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
