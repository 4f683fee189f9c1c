"""(Re)generate the bundled manga translator's parameters, animeparse/translate/params/manga_v2.pt.

Deterministic: the tensors are computed from the literal tables in animeparse/translate/params.py, and torch.save
writes fixed zip timestamps, so the same code gives the same bytes (tests/translate checks the bundled file).

    .venv/bin/python scripts/make_translator_params.py            # rewrite the bundled file
    .venv/bin/python scripts/make_translator_params.py --check    # exit 1 if the bundled file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from animeparse.translate.base import file_sha256
from animeparse.translate.params import PARAMS_FILE, build_params, save_params, serialize_params


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PARAMS_FILE, help="where to write (default: the bundled file)")
    parser.add_argument("--check", action="store_true", help="only compare with the existing file")
    args = parser.parse_args()
    params = build_params()
    if args.check:
        same = args.out.is_file() and args.out.read_bytes() == serialize_params(params)
        print(f"{args.out}: {'up to date' if same else 'STALE: run scripts/make_translator_params.py'}")
        return 0 if same else 1
    save_params(args.out, params)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 {file_sha256(args.out)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
