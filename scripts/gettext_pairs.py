"""Write a TSV of English-to-<language> sentence pairs from the gettext catalogs (.mo files) that Debian
packages install under /usr/share/locale: the translated messages of programs such as apt, coreutils and
git, a real parallel corpus on any Debian or Ubuntu machine without network.

    python scripts/gettext_pairs.py --language de --out data/gettext-en-de.tsv
    python train.py model=transformer data=tsv data.path=data/gettext-en-de.tsv
    python scripts/gettext_pairs.py --language de --sample 7000 --out de7000.tsv     # 7,000 drawn with seed 0
    python scripts/gettext_pairs.py --language de --join 26 --sample 7000 --out long.tsv  # long sentences
"""

import argparse
import gettext
import random
from pathlib import Path


def catalog_pairs(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) of one .mo file: singular messages on one line, without the header entry."""
    with open(path, "rb") as f:
        try:
            catalog = gettext.GNUTranslations(f)._catalog
        except (OSError, UnicodeDecodeError):
            return []
    return [
        (source.split("\x04")[-1].strip(), target.strip())  # "context\x04message" keys lose the context
        for source, target in catalog.items()
        if isinstance(source, str)
        and source.strip()
        and target.strip()
        and "\n" not in source + target
        and "\t" not in source + target
    ]


def joined(pairs: list[tuple[str, str]], words: int) -> list[tuple[str, str]]:
    """Consecutive messages of 3 words or more (one catalog's neighbours, mostly), each ended by a full stop,
    joined until the source holds `words` words: a corpus of long sentences (a leftover short one is dropped)."""
    long, current = [], []
    for pair in (pair for pair in pairs if len(pair[0].split()) >= 3):
        current.append(pair)
        if sum(len(source.split()) for source, _ in current) >= words:
            long.append(tuple(" ".join(side.rstrip(".") + "." for side in sides) for sides in zip(*current)))
            current = []
    return long


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", default="de", help="the target language's locale directory name")
    parser.add_argument("--locale-dir", default="/usr/share/locale")
    parser.add_argument("--max-words", type=int, default=20, help="drop messages longer than this")
    parser.add_argument("--join", type=int, default=0, help="join consecutive messages to this many words")
    parser.add_argument("--sample", type=int, default=0, help="keep this many pairs, drawn with seed 0")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    catalogs = sorted(Path(args.locale_dir, args.language, "LC_MESSAGES").glob("*.mo"))
    if not catalogs:
        raise SystemExit(
            f"no .mo catalogs under {args.locale_dir}/{args.language}/LC_MESSAGES; "
            "install the packages' translations or pick another --language"
        )
    pairs = {}
    for path in catalogs:
        for source, target in catalog_pairs(path):
            if len(source.split()) <= args.max_words:
                pairs.setdefault(source, target)  # the first catalog's translation of a repeated message
    pairs = joined(list(pairs.items()), args.join) if args.join else list(pairs.items())
    if args.sample:
        random.Random(0).shuffle(pairs)
        pairs = pairs[: args.sample]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{source}\t{target}\n" for source, target in pairs), encoding="utf-8")
    print(f"{len(pairs)} pairs from {len(catalogs)} catalogs -> {out}")


if __name__ == "__main__":
    main()
