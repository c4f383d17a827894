"""python -m landmarks.claims --list | NAME [--quick] [--seeds N] [--out DIR] [--redraw DIR]: reproduce a landmark's
finding."""

import time
from pathlib import Path

from landmarks.claims.claim import CLAIMS
from landmarks.cli import Parser


def listing() -> str:
    lines = []
    for name in CLAIMS.names():
        claim = CLAIMS[name]
        runs = f"{len(claim.points)} points x {claim.seeds} seeds"
        lines.append(f"{name:<22} {claim.paper}; {runs}, ~{claim.budget_min} min on 2 CPU cores")
        lines.append(f"{'':<22} {claim.statement}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    parser = Parser(prog="python -m landmarks.claims", description=__doc__.split(":")[1].strip())
    parser.add_argument("name", nargs="?", help="the claim to run (--list names them)")
    parser.add_argument("--list", action="store_true", help="name every claim with its paper and budget")
    parser.add_argument("--quick", action="store_true", help="a few steps a point, one seed: seconds, for the tests")
    parser.add_argument("--seeds", type=int, help="seeds per point (default: the claim's, 3; --quick: 1)")
    parser.add_argument("--out", type=Path, help="output dir (default outputs/claims/NAME/<time>)")
    parser.add_argument("--redraw", type=Path, metavar="DIR", help="the verdict and figure again from DIR's claim.json")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        print(listing())
        return None
    if args.name not in CLAIMS:
        parser.error(f"no claim {args.name!r}; choose one of {', '.join(CLAIMS.names())}")
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds {args.seeds}: give a number of seeds >= 1")
    from landmarks.claims.runner import redraw, run_claim
    from landmarks.datasets import DatasetError

    if args.redraw:
        if not (args.redraw / "claim.json").is_file():
            parser.error(f"--redraw {args.redraw}: no claim.json there; give the output dir of a claim's run")
        return redraw(CLAIMS[args.name], args.redraw)

    claim = CLAIMS[args.name]
    for path, command in claim.needs.items():
        if not Path(path).exists():
            parser.error(f"{args.name} reads {path}, which is not here; make it first: {command}")
    out = args.out or Path("outputs/claims") / args.name / time.strftime("%Y-%m-%d_%H-%M-%S")
    out.mkdir(parents=True, exist_ok=True)
    try:
        return run_claim(claim, quick=args.quick, seeds=args.seeds, out=out)
    except (ValueError, DatasetError) as error:  # bad input (a setting, a file): one line naming the fix
        raise SystemExit(f"{parser.prog} {args.name}: {error}") from None


if __name__ == "__main__":
    main()
