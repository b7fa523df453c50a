"""Build the dirtyduck tutorial's database from simulated inspections.

    python -m examples.dirtyduck.generate --db postgresql://postgres@127.0.0.1:5432/food --size small

(from the repository's root). Prints the rows of each table and the seconds each stage took.
"""

import argparse
import json

from examples.dirtyduck.database import build_database
from examples.dirtyduck.inspections import SEED, SIZES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the database's URL (it must exist)")
    parser.add_argument("--size", choices=list(SIZES), default="small",
                        help="facilities: " + ", ".join(f"{k} {v:,}" for k, v in SIZES.items()))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print(json.dumps(build_database(args.db, args.size, args.seed), indent=2))


if __name__ == "__main__":
    main()
