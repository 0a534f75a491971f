"""stseg.tables: the CSV tables between rules keep every digit and their string keys."""

from __future__ import annotations

import pandas as pd

from stseg.tables import read_table, write_table


def test_tables_round_trip_at_full_precision(tmp_path):
    table = pd.DataFrame({"video": ["00012"], "frame": ["00003"], "JF": [0.1 + 0.2], "object": [3]})
    write_table(table, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv")
    assert back.loc[0, "JF"] == 0.1 + 0.2  # 0.30000000000000004, not rounded
    assert back.loc[0, "frame"] == "00003" and back.loc[0, "video"] == "00012"  # names, not numbers
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "00012,00003,0.30000000000000004,3"
